/** The P_* parameters a host-script fragment carries (paramLines' base64 lines), decoded: what the host's script receives. */
export function scriptParams(script: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of script.split("\n")) {
    const m = /^(P_[A-Z0-9_]+)=(?:\$\(printf '%s' '([A-Za-z0-9+/=]*)' \| base64 -d\))?$/.exec(line);
    if (m) out[m[1]] = m[2] === undefined ? "" : Buffer.from(m[2], "base64").toString("utf8");
  }
  return out;
}
