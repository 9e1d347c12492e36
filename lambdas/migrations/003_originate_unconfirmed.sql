-- dialer-worker: an origination whose answer was lost (timeout after the request was sent, or the
-- connection dropped before ARI answered) is "ambiguous": Asterisk may have placed the call. The
-- task stays `dialing` with its channel id and the attempt stays open (outcome NULL); it is settled
-- by the call's outcome event or by the status-checker's expiry of calls stuck in dialing, never
-- by dialing the contact again at once. This flag marks such attempts so reports can tell them
-- apart; `error` keeps what the dialer saw.

ALTER TABLE call_attempts
  ADD COLUMN originate_unconfirmed boolean NOT NULL DEFAULT false;
