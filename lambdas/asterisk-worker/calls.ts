/**
 * From ARI channel events to call outcomes (pure: no I/O, times are the events' own timestamps).
 *
 * What Asterisk tells a Stasis application about a channel it originated with
 * POST /ari/channels?app=<app> (the application is subscribed to the channel from its creation):
 *   Dial              {peer: Channel, dialstatus}: "" when dialing starts, then progress
 *                     (RINGING, PROGRESS) and a final status: ANSWER, BUSY, NOANSWER, CANCEL,
 *                     CHANUNAVAIL, CONGESTION (also DONTCALL, TORTURE, INVALIDARGS);
 *   ChannelStateChange {channel}: channel.state Down, Ringing, Up, ...; "Up" = answered;
 *   StasisStart       {channel, args}: the answered channel entered the application;
 *   ChannelHangupRequest {channel, cause?, soft?}: a hangup was asked for (cause may be absent);
 *   StasisEnd         {channel};
 *   ChannelDestroyed  {channel, cause, cause_txt}: the channel is gone; Q.850 cause, e.g.
 *                     16 Normal Clearing, 17 User busy, 18 No user responding, 19 No answer,
 *                     21 Call rejected, 1 Unallocated number, 3 No route, 34 Circuit/channel congestion.
 * Every event has `type`, `application` and `timestamp` ("2026-12-01T19:40:00.123+0000").
 *
 * Outcome of a destroyed channel:
 *   answered  if it was ever Up (state change, Dial ANSWER, StasisStart or its final state);
 *             talkSeconds = destroyed.timestamp - first answer timestamp;
 *   busy      Dial BUSY, else cause 17;
 *   no_answer Dial NOANSWER / CANCEL, else cause 18 or 19, or 16 (cleared before answer: the
 *             originate timeout ran out);
 *   failed    everything else (CHANUNAVAIL, CONGESTION, causes such as 1, 3, 21, 27, 34, 38),
 *             with the cause.
 * Events may come late or twice: a destroyed channel waits `settleMs` for late events carrying an
 * earlier timestamp (they still count); anything for a channel already finalised is ignored.
 */
import type { Outcome, OutcomeRecord } from "../shared/outcomes";

export interface AriChannel {
  id: string;
  name?: string;
  state?: string;
  creationtime?: string;
}

export interface AriEvent {
  type: string;
  application?: string;
  timestamp?: string;
  channel?: AriChannel;
  peer?: AriChannel;
  dialstatus?: string;
  cause?: number;
  cause_txt?: string;
}

/** What the worker knows of one live call; persisted in Redis so a restarted worker carries on. */
export interface CallState {
  channelId: string;
  firstSeenAt: number;
  answeredAt: number | null;
  dialStatus: string | null;
  /** Cause of a ChannelHangupRequest, used if ChannelDestroyed carries none. */
  hangupCause: number | null;
  /** Last time the worker knew the channel was alive (event, or reconciliation). */
  lastSeenAt: number;
}

export interface Destroyed {
  at: number;
  cause: number | null;
  causeText: string | null;
  finalState: string | null;
}

const FINAL_DIAL = new Set(["ANSWER", "BUSY", "NOANSWER", "CANCEL", "CHANUNAVAIL", "CONGESTION", "DONTCALL", "TORTURE", "INVALIDARGS"]);

export function eventTime(e: AriEvent, fallback: number): number {
  const t = e.timestamp ? Date.parse(e.timestamp) : NaN;
  return Number.isFinite(t) ? t : fallback;
}

/** The campaign channel an event is about (Dial names it `peer`), or undefined. */
export function channelOf(e: AriEvent, prefix: string): AriChannel | undefined {
  const ch = e.type === "Dial" ? e.peer : e.channel;
  return ch && typeof ch.id === "string" && ch.id.startsWith(prefix) ? ch : undefined;
}

export function newCall(channelId: string, at: number): CallState {
  return { channelId, firstSeenAt: at, answeredAt: null, dialStatus: null, hangupCause: null, lastSeenAt: at };
}

const answerAt = (s: CallState, at: number) => void (s.answeredAt = s.answeredAt === null ? at : Math.min(s.answeredAt, at));

/** Applies a non-final event (anything but ChannelDestroyed) to the call's state. */
export function applyEvent(s: CallState, e: AriEvent, at: number): void {
  s.lastSeenAt = Math.max(s.lastSeenAt, at);
  const ch = channelOf(e, "");
  switch (e.type) {
    case "ChannelStateChange":
    case "StasisStart":
      if (ch?.state === "Up") answerAt(s, at);
      break;
    case "Dial":
      if (e.dialstatus && FINAL_DIAL.has(e.dialstatus)) {
        s.dialStatus = e.dialstatus;
        if (e.dialstatus === "ANSWER") answerAt(s, at);
      }
      break;
    case "ChannelHangupRequest":
      if (typeof e.cause === "number") s.hangupCause = e.cause;
      break;
    default:
      if (ch?.state === "Up") answerAt(s, at); // any event showing the channel Up
  }
}

/**
 * Folds in what a previous run saved for a call this run already tracks (heard of, or adopted at
 * reconciliation, before the saved state was read): the earliest answer and first sighting, the
 * latest sign of life, and any dial status or hangup cause only one of them knows. Without it an
 * adopted call's talk time would count from the reconnect, not from the answer the old run saw.
 */
export function mergeSaved(s: CallState, saved: CallState): void {
  s.firstSeenAt = Math.min(s.firstSeenAt, saved.firstSeenAt);
  if (saved.answeredAt !== null) answerAt(s, saved.answeredAt);
  s.dialStatus ??= saved.dialStatus;
  s.hangupCause ??= saved.hangupCause;
  s.lastSeenAt = Math.max(s.lastSeenAt, saved.lastSeenAt);
}

export function destroyedOf(e: AriEvent, at: number): Destroyed {
  return {
    at,
    cause: typeof e.cause === "number" ? e.cause : null,
    causeText: typeof e.cause_txt === "string" && e.cause_txt !== "" ? e.cause_txt.slice(0, 200) : null,
    finalState: e.channel?.state ?? null,
  };
}

function classify(s: CallState, cause: number | null, finalState: string | null): Outcome {
  if (s.answeredAt !== null || finalState === "Up" || s.dialStatus === "ANSWER") return "answered";
  switch (s.dialStatus) {
    case "BUSY":
      return "busy";
    case "NOANSWER":
    case "CANCEL":
      return "no_answer";
    case null:
      break;
    default:
      return "failed";
  }
  if (cause === 17) return "busy";
  if (cause === 16 || cause === 18 || cause === 19) return "no_answer";
  return "failed";
}

export function outcomeOf(s: CallState, d: Destroyed): OutcomeRecord {
  const cause = d.cause ?? s.hangupCause;
  const outcome = classify(s, cause, d.finalState);
  const answeredAt = s.answeredAt ?? (outcome === "answered" ? s.firstSeenAt : null);
  return {
    channelId: s.channelId,
    outcome,
    talkSeconds: outcome === "answered" ? Math.max(0, Math.round((d.at - (answeredAt ?? d.at)) / 1000)) : null,
    cause,
    causeText: d.causeText,
    endedAt: new Date(d.at).toISOString(),
    source: "event",
  };
}

/**
 * A call the worker tracked that ARI no longer lists after a reconnect: it ended while the worker
 * was not listening, so its cause is unknown. Answered: talk time up to the last moment it was
 * known alive (a lower bound). Never answered as far as the worker knows: failed (retried per the
 * campaign's policy, like an expired call).
 */
export function vanishedOutcome(s: CallState, foundAt: number): OutcomeRecord {
  const answered = s.answeredAt !== null || s.dialStatus === "ANSWER";
  return {
    channelId: s.channelId,
    outcome: answered ? "answered" : "failed",
    talkSeconds: answered ? Math.max(0, Math.round((s.lastSeenAt - (s.answeredAt ?? s.lastSeenAt)) / 1000)) : null,
    cause: null,
    causeText: answered ? "ended while the worker was not connected to ARI; talk time is a lower bound" : "ended while the worker was not connected to ARI; outcome unknown",
    endedAt: new Date(foundAt).toISOString(),
    source: "reconcile",
  };
}
