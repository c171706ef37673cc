import { DEFAULTS } from '../config/defaults.js';

/** Where http.request may connect (station.yaml `http:`; docs/security.md "Outbound HTTP"). */
export interface EgressPolicy {
  /** Only these hosts (lower-case; exact, or `*.example.com`); undefined: any host the address rules allow. */
  readonly allowHosts: readonly string[] | undefined;
  /** Refuse loopback, private and shared addresses too. Link-local and metadata addresses are always refused. */
  readonly denyPrivateNetworks: boolean;
  readonly maxRedirects: number;
}

/** The limits Station puts on what steps reach, from station.yaml; executors run with the defaults without one. */
export interface ExecPolicy {
  /** Variables of the daemon's environment a shell.exec process inherits (`NAME` or `PREFIX*`). */
  readonly envAllowlist: readonly string[];
  /** Track a step's processes in a cgroup v2 of their own when possible (process-tree.ts). */
  readonly cgroups: boolean;
  readonly http: EgressPolicy;
}

export const DEFAULT_EXEC_POLICY: ExecPolicy = Object.freeze({
  envAllowlist: DEFAULTS.steps.envAllowlist,
  cgroups: DEFAULTS.steps.cgroups,
  http: Object.freeze({ allowHosts: undefined, ...DEFAULTS.http }),
});

/** The policy of a resolved configuration. */
export function execPolicy(config: { steps: { envAllowlist: readonly string[]; cgroups: boolean }; http: EgressPolicy }): ExecPolicy {
  return Object.freeze({ envAllowlist: config.steps.envAllowlist, cgroups: config.steps.cgroups, http: config.http });
}
