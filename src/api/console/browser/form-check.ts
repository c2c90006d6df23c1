/**
 * What the create and edit form can tell before asking the API: every field
 * a webhook needs that was left empty, and a number field holding no number
 * (which JSON would send as null, that is as the field's default). Everything
 * else about a value (a URL's scheme, an operation's syntax, a number's
 * range) is the API's to check, in one answer naming every field it refuses.
 * No DOM here: a plain function, tested as one.
 */
import type { FieldProblem, WebhookInput } from './api.js';

/** Every required field the input leaves empty, and every number field that is not a number, in the order of the form, named as the API names them. */
export function formProblems({ targetUrl, operations, format, signatures, maxPerSecond, batch }: WebhookInput): FieldProblem[] {
  const required: [field: string, empty: boolean, reason: string][] = [
    ['targetUrl', targetUrl === '', 'enter the URL that receives the events, such as https://example.com/webhooks/twenty'],
    ['operations', operations.length === 0, 'pick at least one operation, or type one under Other operations'],
    ['format', format === '', 'choose a format'],
    ['signatures', signatures.length === 0, 'pick at least one signature scheme'],
    ['maxPerSecond', Number.isNaN(maxPerSecond), 'a number of requests per second, such as 10, or empty for no limit'],
    ['batch.maxEvents', Number.isNaN(batch?.maxEvents), 'a whole number of events, such as 100, or empty for the default'],
    ['batch.maxBytes', Number.isNaN(batch?.maxBytes), 'a number of bytes, such as 65536, or empty for the default'],
  ];
  return required.filter(([, empty]) => empty).map(([field, , reason]) => ({ field, reason }));
}
