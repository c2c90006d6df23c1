/**
 * What the create and edit form can tell before asking the API: every field
 * a webhook needs that was left empty. Everything else about a value (a URL's
 * scheme, an operation's syntax) is the API's to check, in one answer naming
 * every field it refuses. No DOM here: a plain function, tested as one.
 */
import type { FieldProblem, WebhookInput } from './api.js';

/** Every required field the input leaves empty, in the order of the form, named as the API names it. */
export function missingFields({ targetUrl, operations, format, signatures }: WebhookInput): FieldProblem[] {
  const required: [field: keyof WebhookInput, empty: boolean, reason: string][] = [
    ['targetUrl', targetUrl === '', 'enter the URL that receives the events, such as https://example.com/webhooks/twenty'],
    ['operations', operations.length === 0, 'pick at least one operation, or type one under Other operations'],
    ['format', format === '', 'choose a format'],
    ['signatures', signatures.length === 0, 'pick at least one signature scheme'],
  ];
  return required.filter(([, empty]) => empty).map(([field, , reason]) => ({ field, reason }));
}
