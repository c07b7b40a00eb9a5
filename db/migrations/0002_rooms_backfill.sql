-- Custom SQL migration file, put your code below! --
-- Fills `rooms` from the messages stored before it existed: each room's newest message.
INSERT INTO `rooms` (`name`, `last_message_id`, `last_active_at`)
SELECT `m`.`room`, `m`.`id`, `m`.`created_at`
FROM `messages` `m`
JOIN (SELECT `room`, max(`id`) AS `id` FROM `messages` GROUP BY `room`) `newest` ON `newest`.`id` = `m`.`id`;
