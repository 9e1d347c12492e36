/** A campaign's settings as stored by validate-campaign and read (cache-aside) by the other functions. */
export interface CampaignSettings {
  id: string;
  name: string;
  callerId: string;
  timeZone: string;
  /** "HH:MM" local time; end may be "24:00"; a window may cross midnight. */
  windowStart: string;
  windowEnd: string;
  maxConcurrentCalls: number;
  maxAttempts: number;
  retryDelaySeconds: number;
}
