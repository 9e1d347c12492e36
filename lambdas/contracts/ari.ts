/**
 * Asterisk REST Interface (ARI): the user the dialer-worker logs in as and the HTTP port, shared by
 * the stack (security group rule, Lambda environment), provisioning (ari.conf, http.conf) and the
 * Lambdas' stand-in. Dependency-free.
 */
export const ARI = {
  /** ari.conf user the Lambdas and the Asterisk-side worker authenticate as. */
  user: "campaign_dialer",
  /** Asterisk's HTTP server (http.conf bindport). */
  port: 8088,
} as const;
