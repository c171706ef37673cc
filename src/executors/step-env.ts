/**
 * The environment a step's process starts from: only the daemon's variables the allowlist names (station.yaml
 * `steps.envAllowlist`), never its credentials. shell.exec adds `input.env` and the STN_* run variables on top.
 */
export function stepEnvironment(allowlist: readonly string[], daemonEnv: NodeJS.ProcessEnv): Record<string, string> {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const entry of allowlist) {
    if (entry.endsWith('*')) prefixes.push(entry.slice(0, -1));
    else exact.add(entry);
  }
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(daemonEnv)) {
    if (value === undefined) continue;
    if (exact.has(name) || prefixes.some((p) => name.startsWith(p))) env[name] = value;
  }
  return env;
}
