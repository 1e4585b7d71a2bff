CREATE TABLE `model_prices` (
	`model` text PRIMARY KEY NOT NULL,
	`input_usd_per_mtok` real NOT NULL,
	`output_usd_per_mtok` real NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
ALTER TABLE `api_keys` ADD `token_budget` integer;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `spend_budget_usd` real;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `budget_period` text;--> statement-breakpoint
ALTER TABLE `usage_events` ADD `spend_usd` real DEFAULT 0 NOT NULL;