-- Names registered twice by a race before this index existed: all but the oldest get their id appended.
UPDATE `nodes` SET `name` = `name` || '-' || `id` WHERE `rowid` NOT IN (SELECT min(`rowid`) FROM `nodes` GROUP BY `name`);--> statement-breakpoint
CREATE UNIQUE INDEX `nodes_name` ON `nodes` (`name`);
