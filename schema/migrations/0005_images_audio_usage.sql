ALTER TABLE `model_prices` ADD `usd_per_image` real;--> statement-breakpoint
ALTER TABLE `usage_events` ADD `images` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `usage_events` ADD `audio_seconds` real DEFAULT 0 NOT NULL;