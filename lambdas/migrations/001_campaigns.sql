-- Campaigns, their contacts, dial tasks (one per contact) and call attempts.
-- Task life cycle: pending (dispatcher) -> ready (enrich-dial-task) -> dialing (dialer-worker)
--   -> done (answered) | ready again with a later due_at (retry) | exhausted (max attempts).

CREATE TABLE campaigns (
  id                   uuid PRIMARY KEY,
  name                 text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  caller_id            text        NOT NULL CHECK (caller_id ~ '^\+[1-9][0-9]{1,14}$'),
  time_zone            text        NOT NULL,
  window_start         time        NOT NULL,
  window_end           time        NOT NULL,
  max_concurrent_calls integer     NOT NULL CHECK (max_concurrent_calls BETWEEN 1 AND 1000),
  max_attempts         integer     NOT NULL CHECK (max_attempts BETWEEN 1 AND 20),
  retry_delay_seconds  integer     NOT NULL CHECK (retry_delay_seconds BETWEEN 0 AND 604800),
  status               text        NOT NULL DEFAULT 'validated' CHECK (status IN ('validated', 'running', 'completed')),
  created_at           timestamptz NOT NULL DEFAULT now(),
  started_at           timestamptz,
  completed_at         timestamptz
);
CREATE INDEX campaigns_running ON campaigns (id) WHERE status = 'running';

CREATE TABLE contacts (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  campaign_id uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  phone_e164  text NOT NULL CHECK (phone_e164 ~ '^\+[1-9][0-9]{1,14}$'),
  name        text,
  UNIQUE (campaign_id, phone_e164)
);
CREATE INDEX contacts_campaign ON contacts (campaign_id, id);

CREATE TABLE dial_tasks (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  campaign_id   uuid        NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  contact_id    bigint      NOT NULL UNIQUE REFERENCES contacts (id) ON DELETE CASCADE,
  status        text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready', 'dialing', 'done', 'exhausted')),
  attempts      integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  due_at        timestamptz NOT NULL DEFAULT now(),
  phone_e164    text,
  contact_name  text,
  caller_id     text,
  enriched_at   timestamptz,
  channel_id    text,
  dialing_since timestamptz,
  last_outcome  text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CHECK (status <> 'dialing' OR (channel_id IS NOT NULL AND dialing_since IS NOT NULL))
);
CREATE INDEX dial_tasks_ready ON dial_tasks (campaign_id, due_at, id) WHERE status = 'ready';
CREATE INDEX dial_tasks_dialing ON dial_tasks (campaign_id, dialing_since) WHERE status = 'dialing';
CREATE INDEX dial_tasks_pending ON dial_tasks (campaign_id, id) WHERE status = 'pending';
CREATE INDEX dial_tasks_open ON dial_tasks (campaign_id) WHERE status IN ('pending', 'ready', 'dialing');

CREATE TABLE call_attempts (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  task_id      bigint      NOT NULL REFERENCES dial_tasks (id) ON DELETE CASCADE,
  campaign_id  uuid        NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  attempt_no   integer     NOT NULL,
  channel_id   text        NOT NULL UNIQUE,
  started_at   timestamptz NOT NULL DEFAULT now(),
  ended_at     timestamptz,
  outcome      text CHECK (outcome IN ('answered', 'no_answer', 'busy', 'failed', 'expired', 'originate_failed')),
  talk_seconds integer CHECK (talk_seconds >= 0),
  error        text
);
CREATE INDEX call_attempts_campaign ON call_attempts (campaign_id, outcome);
CREATE INDEX call_attempts_task ON call_attempts (task_id);
