-- One ballot, statement for statement as Poll.cast_ballot() sends it, for pgbench: what the
-- database itself can carry, without Django. bench/writers.py runs it as
--
--   pgbench -n -M simple -f bench/ballot_transaction.sql -D poll=ID -D shards=32 -D lock=SHARE
--
-- `lock` is SHARE (cast_ballot() now: ballots share the poll's row lock) or UPDATE (before:
-- every ballot waits for the one ahead). -M simple, as psycopg sends Django's queries: values
-- in the text, one round trip per statement, BEGIN and COMMIT included.
\set number random(1, 15)
BEGIN;
SELECT id, title, slug, intro, opens_at, closes_at, max_choices, require_id_number,
       id_region_prefixes, results_visible_while_open, closed_at, closed_by_id
  FROM ballots_poll WHERE id = :poll FOR :lock;
SELECT r.id AS reform_id
  FROM reforms_reform r JOIN ballots_poll_reforms pr ON r.id = pr.reform_id
 WHERE pr.poll_id = :poll AND r.published AND r.number IN (:number) \gset
INSERT INTO ballots_ballot (poll_id, citizen_hash, id_number_hash, phone_masked, cast_at,
                            receipt, network, voided_at, voided_by_id, void_reason, void_note)
VALUES (:poll, 'pgbench-' || substr(md5(random()::text) || md5(random()::text), 1, 56), NULL,
        '', now(),
        upper(substr(md5(random()::text), 1, 12)), 'pgbench', NULL, NULL, '', '')
RETURNING id AS ballot_id \gset
INSERT INTO ballots_choice (ballot_id, reform_id) VALUES (:ballot_id, :reform_id) RETURNING id;
\set shard :ballot_id % :shards
INSERT INTO ballots_votecount (poll_id, shard, reform_id, votes) VALUES (:poll, :shard, :reform_id, 1)
ON CONFLICT (poll_id, shard, reform_id) DO UPDATE SET votes = ballots_votecount.votes + EXCLUDED.votes;
INSERT INTO ballots_ballotcount (poll_id, shard, ballots, voided) VALUES (:poll, :shard, 1, 0)
ON CONFLICT (poll_id, shard) DO UPDATE
SET ballots = ballots_ballotcount.ballots + EXCLUDED.ballots,
    voided = ballots_ballotcount.voided + EXCLUDED.voided;
COMMIT;
