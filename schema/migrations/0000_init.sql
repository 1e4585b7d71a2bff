CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`key_hash` text NOT NULL,
	`prefix` text NOT NULL,
	`models` text,
	`expires_at` integer,
	`disabled` integer DEFAULT false NOT NULL,
	`rpm_limit` integer,
	`tpm_limit` integer,
	`max_concurrent` integer,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`last_used_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_key_hash` ON `api_keys` (`key_hash`);--> statement-breakpoint
CREATE TABLE `deployment_instances` (
	`id` text PRIMARY KEY NOT NULL,
	`deployment_id` text NOT NULL,
	`node_id` text NOT NULL,
	`replica` integer NOT NULL,
	`state` text DEFAULT 'pending' NOT NULL,
	`detail` text,
	`gpu_indices` text,
	`metrics` text,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`deployment_id`) REFERENCES `deployments`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`node_id`) REFERENCES `nodes`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `deployment_instances_replica` ON `deployment_instances` (`deployment_id`,`replica`);--> statement-breakpoint
CREATE INDEX `deployment_instances_node` ON `deployment_instances` (`node_id`);--> statement-breakpoint
CREATE TABLE `deployments` (
	`id` text PRIMARY KEY NOT NULL,
	`model` text NOT NULL,
	`recipe` text NOT NULL,
	`options` text NOT NULL,
	`placement` text NOT NULL,
	`replicas` integer DEFAULT 1 NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE INDEX `deployments_model` ON `deployments` (`model`);--> statement-breakpoint
CREATE TABLE `nodes` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`advertise_url` text NOT NULL,
	`secret_hash` text NOT NULL,
	`daemon_version` text NOT NULL,
	`gpus` text NOT NULL,
	`stats` text,
	`registration_token_id` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`last_heartbeat_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `nodes_secret_hash` ON `nodes` (`secret_hash`);--> statement-breakpoint
CREATE TABLE `registration_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text,
	`token_hash` text NOT NULL,
	`prefix` text NOT NULL,
	`expires_at` integer NOT NULL,
	`max_uses` integer DEFAULT 1 NOT NULL,
	`uses` integer DEFAULT 0 NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `registration_tokens_token_hash` ON `registration_tokens` (`token_hash`);--> statement-breakpoint
CREATE TABLE `settings` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `usage_events` (
	`id` text PRIMARY KEY NOT NULL,
	`key_id` text,
	`model` text,
	`endpoint` text NOT NULL,
	`node_id` text,
	`instance_id` text,
	`stream` integer DEFAULT false NOT NULL,
	`status` integer NOT NULL,
	`outcome` text NOT NULL,
	`error_code` text,
	`prompt_tokens` integer DEFAULT 0 NOT NULL,
	`completion_tokens` integer DEFAULT 0 NOT NULL,
	`total_tokens` integer DEFAULT 0 NOT NULL,
	`latency_ms` integer NOT NULL,
	`ttft_ms` integer,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `usage_events_created` ON `usage_events` (`created_at`);--> statement-breakpoint
CREATE INDEX `usage_events_key` ON `usage_events` (`key_id`,`created_at`);