-- Projector checkpoints (DESIGN.md section 6).
--
-- The projector upserts one row per (projection, topic, partition) in the same
-- transaction as the read-model changes of a batch, and seeks to next_offset on
-- partition assignment (never to Kafka's committed offsets). next_offset is the
-- offset of the next record to apply, i.e. last applied offset + 1.
--
-- Not schema-qualified on purpose: replay builds read models in a fresh schema
-- chosen through search_path.

CREATE TABLE projector_offsets (
    projection  text        NOT NULL,
    topic       text        NOT NULL,
    partition   int         NOT NULL CHECK (partition >= 0),
    next_offset bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, partition)
);

COMMENT ON TABLE projector_offsets IS
    'Next Kafka offset to apply per projection and partition; written in the same transaction as the read models';
