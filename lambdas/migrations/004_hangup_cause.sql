-- asterisk-worker: the outcome of a call carries the hangup cause Asterisk reported in
-- ChannelDestroyed (Q.850 code and cause_txt, e.g. 17 "User busy", 34 "Circuit/channel
-- congestion"), or why it is unknown (a call that ended while the worker was not connected to ARI).
ALTER TABLE call_attempts
  ADD COLUMN hangup_cause     integer CHECK (hangup_cause BETWEEN 0 AND 255),
  ADD COLUMN hangup_cause_txt text;
