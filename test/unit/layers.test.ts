import { resolve } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');

/** The layer rule's messages for `code` written as the file `path` (nothing is written to disk). */
async function boundaryMessages(path: string, code: string): Promise<string[]> {
  const [result] = await new ESLint({ cwd: REPO }).lintText(code, { filePath: resolve(REPO, path) });
  return (result?.messages ?? []).filter((message) => message.ruleId?.startsWith('boundaries/')).map((message) => message.message);
}

describe('the layer rule (eslint-plugin-boundaries, in npm test through eslint .)', () => {
  it('refuses an import of a higher layer, naming both layers', async () => {
    const messages = await boundaryMessages(
      'src/config/layer-probe.ts',
      "import { renderBody } from '../delivery/payload.js';\nexport const render = renderBody;\n",
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/^config may not import delivery: a layer imports only itself and the layers below it/);
  });

  it('refuses type-only imports, re-exports and dynamic imports of a higher layer too', async () => {
    const messages = await boundaryMessages(
      'src/state/layer-probe.ts',
      [
        "import type { PreparedEvent } from '../delivery/payload.js';",
        'export type Prepared = PreparedEvent;',
        "export { Pipeline } from '../events/pipeline.js';",
        "export const daemon = () => import('../daemon.js');",
      ].join('\n'),
    );
    expect(messages).toEqual([
      expect.stringMatching(/^state may not import delivery/),
      expect.stringMatching(/^state may not import events/),
      expect.stringMatching(/^state may not import assembly/),
    ]);
  });

  it('lets a layer import itself and the layers below it', async () => {
    const messages = await boundaryMessages(
      'src/delivery/layer-probe.ts',
      [
        "import { renderBody } from './payload.js';",
        "import { Pipeline } from '../events/pipeline.js';",
        "import { formatLsn } from '../source/lsn.js';",
        "import { listWebhooks } from '../state/webhooks.js';",
        "import { configSchema } from '../config/schema.js';",
        "import { PAYLOAD_FORMATS } from '../common/webhook.js';",
        'export const used = [renderBody, Pipeline, formatLsn, listWebhooks, configSchema, PAYLOAD_FORMATS];',
      ].join('\n'),
    );
    expect(messages).toEqual([]);
  });

  it('counts a new file at the top of src/ as assembly, which no layer may import', async () => {
    const messages = await boundaryMessages('src/api/layer-probe.ts', "export { Daemon } from '../daemon.js';\n");
    expect(messages).toEqual([expect.stringMatching(/^api may not import assembly/)]);
  });
});
