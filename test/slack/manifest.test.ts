import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

/**
 * slack-app-manifest.yaml against Slack's manifest schema (the fields and limits of api.slack.com/reference/manifests)
 * and against what Station calls: every Web API method used needs its scope.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');

interface Manifest {
  display_information: { name: string; description?: string; background_color?: string };
  features: { bot_user: { display_name: string; always_online?: boolean } };
  oauth_config: { scopes: { bot: string[] } };
  settings: { interactivity: { is_enabled: boolean; request_url?: string }; socket_mode_enabled: boolean; org_deploy_enabled?: boolean; token_rotation_enabled?: boolean };
}

describe('slack-app-manifest.yaml', () => {
  const m = parse(fs.readFileSync(path.join(ROOT, 'slack-app-manifest.yaml'), 'utf8')) as Manifest;

  it("has Slack's required fields within their limits", () => {
    expect(Object.keys(m).sort()).toEqual(['display_information', 'features', 'oauth_config', 'settings']);
    expect(m.display_information.name.length).toBeGreaterThan(0);
    expect(m.display_information.name.length).toBeLessThanOrEqual(35);
    expect((m.display_information.description ?? '').length).toBeLessThanOrEqual(140);
    expect(m.display_information.background_color).toMatch(/^#(?:[0-9a-fA-F]{3}){1,2}$/);
    expect(m.features.bot_user.display_name.length).toBeLessThanOrEqual(80);
    expect(typeof m.settings.socket_mode_enabled).toBe('boolean');
  });

  it('enables interactivity at /slack/events over https (HTTP mode, the default)', () => {
    expect(m.settings.interactivity.is_enabled).toBe(true);
    expect(m.settings.socket_mode_enabled).toBe(false);
    expect(m.settings.interactivity.request_url).toMatch(/^https:\/\/[^/]+\/slack\/events$/);
  });

  it('asks for the scope of every Web API method Station calls', () => {
    const src = ['notifier.ts', 'threads.ts', 'interactions.ts', 'directory.ts', 'poster.ts']
      .map((f) => fs.readFileSync(path.join(ROOT, 'src/slack', f), 'utf8'))
      .join('\n');
    const scopeOf: Record<string, string[]> = {
      'chat.postMessage': ['chat:write'],
      'chat.update': ['chat:write'],
      'chat.postEphemeral': ['chat:write'],
      'views.open': [],
      'users.info': ['users:read', 'users:read.email'],
      'users.lookupByEmail': ['users:read.email'],
      'usergroups.users.list': ['usergroups:read'],
      'usergroups.list': ['usergroups:read'],
    };
    const called = [...src.matchAll(/client\.([a-z]+(?:\.[a-zA-Z]+)+)\(/g)].map((x) => x[1] as string);
    expect(called.length).toBeGreaterThan(5);
    for (const method of new Set(called)) {
      expect(Object.keys(scopeOf), `a scope for ${method}`).toContain(method);
      for (const scope of scopeOf[method] ?? []) expect(m.oauth_config.scopes.bot, `${method} needs ${scope}`).toContain(scope);
    }
  });
});
