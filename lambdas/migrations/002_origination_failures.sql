-- dialer-worker: origination failures of two kinds (see lambdas/shared/ari.ts).
--   transient (ARI unreachable, timeout, 5xx): the task goes back to `ready` after an exponential
--     backoff without using up an attempt; ari_transient_failures counts them in a row (reset when
--     ARI takes a call for the task);
--   rejected (ARI refused this call, e.g. 400/404/422): counted in ari_rejections.
-- Past ARI_MAX_REJECTIONS rejections or ARI_MAX_TRANSIENT_FAILURES transient failures in a row the
-- task is `failed` (terminal, failure_reason says why), so its campaign can complete.

ALTER TABLE dial_tasks
  ADD COLUMN ari_rejections         integer NOT NULL DEFAULT 0 CHECK (ari_rejections >= 0),
  ADD COLUMN ari_transient_failures integer NOT NULL DEFAULT 0 CHECK (ari_transient_failures >= 0),
  ADD COLUMN failure_reason         text,
  DROP CONSTRAINT dial_tasks_status_check,
  ADD CONSTRAINT dial_tasks_status_check
    CHECK (status IN ('pending', 'ready', 'dialing', 'done', 'exhausted', 'failed')),
  ADD CONSTRAINT dial_tasks_failure_reason_check CHECK ((status = 'failed') = (failure_reason IS NOT NULL));

ALTER TABLE call_attempts
  DROP CONSTRAINT call_attempts_outcome_check,
  ADD CONSTRAINT call_attempts_outcome_check
    CHECK (outcome IN ('answered', 'no_answer', 'busy', 'failed', 'expired', 'originate_failed', 'originate_rejected'));

-- report-generator counts a campaign's failed tasks.
CREATE INDEX dial_tasks_failed ON dial_tasks (campaign_id) WHERE status = 'failed';
