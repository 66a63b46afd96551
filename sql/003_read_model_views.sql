-- Views over the projector's read models (DESIGN.md section 6).

-- Compatibility view with the columns of the old runner's llm_interactions table:
-- one row per stage execution outcome (InteractionCompleted / InteractionFailed) of
-- every actor kind (actor_kind tells llm, script and human apart).
--   id                 bigint, stable across replays: kafka partition << 40 | offset
--   interaction_id     the event_id
--   conversation_name  the stage (the old runner's name for it); stage repeats it
--   model              the model file name; model_sha256 its digest
--   prompt             NULL: events carry the prompt's sha256 (prompt_sha256), not its text
--   response           the actor's output (NULL for failures)
--   status             'completed' | 'failed'
--   total_tokens       prompt_tokens + completion_tokens
--   tokens_per_second  completion tokens per second of the call
CREATE VIEW llm_interactions AS
SELECT (e.kafka_partition::bigint << 40) | e.kafka_offset AS id,
       e.event_id                                          AS interaction_id,
       e.posting_id,
       e.stage                                             AS conversation_name,
       e.stage,
       e.attempt,
       e.actor_name,
       e.actor_kind,
       e.model_file                                        AS model,
       e.model_sha256,
       NULL::text                                          AS prompt,
       e.prompt_sha256,
       e.output                                            AS response,
       e.output_sha256                                     AS response_sha256,
       e.status,
       e.error_class,
       e.error_message,
       e.duration_ms,
       e.prompt_tokens,
       e.completion_tokens,
       COALESCE(e.prompt_tokens, 0) + COALESCE(e.completion_tokens, 0) AS total_tokens,
       round(e.completion_tokens * 1000.0 / NULLIF(e.duration_ms, 0), 2) AS tokens_per_second,
       e.correlation_id,
       e.worker_id,
       e.created_at
  FROM execution_events e
 WHERE e.status IS NOT NULL;

-- Lets the p95 below read an index instead of every event row.
CREATE INDEX execution_events_actor_idx ON execution_events (actor_name, actor_kind, duration_ms)
    WHERE status IS NOT NULL;

-- actor_performance plus the p95 duration, which is computed here from the event
-- store (a percentile cannot be maintained incrementally in a row).
CREATE VIEW actor_performance_report AS
SELECT a.actor_name,
       a.actor_kind,
       a.calls,
       a.successes,
       a.failures,
       a.success_rate,
       a.duration_ms_min,
       a.avg_duration_ms,
       p.p95_duration_ms,
       a.duration_ms_max,
       a.tokens_per_s,
       a.prompt_tokens,
       a.completion_tokens,
       a.first_call_at,
       a.last_call_at
  FROM actor_performance a
  LEFT JOIN (SELECT actor_name, actor_kind,
                    round(percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)::numeric, 1)
                        AS p95_duration_ms
               FROM execution_events
              WHERE status IS NOT NULL
              GROUP BY actor_name, actor_kind) p USING (actor_name, actor_kind);

-- Actors that ran with more than one model/script version, oldest version first.
CREATE VIEW actor_drift AS
SELECT actor_name,
       actor_kind,
       count(*)                                         AS versions,
       array_agg(model_sha256 ORDER BY first_seen_at)   AS sha256_history,
       array_agg(model_file ORDER BY first_seen_at)     AS file_history,
       min(first_seen_at)                               AS first_seen_at,
       max(last_seen_at)                                AS last_seen_at
  FROM actors
 GROUP BY actor_name, actor_kind
HAVING count(*) > 1;
