/**
 * The console's one HTML page: every view's markup, hidden until the browser
 * modules (./browser) show one and fill it with what the GraphQL API returns.
 * Static on purpose: the forms, labels and buttons can be read here whole.
 */
import { BATCH_DEFAULTS, BATCH_LIMITS, ORDERINGS, PAYLOAD_FORMATS, type Ordering, type PayloadFormat } from '../../common/webhook.js';
import { formatDuration } from '../../config/units.js';
import { SIGNATURE_HEADERS, SIGNATURE_SCHEMES } from '../../common/verify.js';

const FORMAT_HINTS: Record<PayloadFormat, string> = {
  record: "Twenty's webhook docs: { id, workspaceId, webhookId, operation, timestamp, record, previousRecord, updatedFields }",
  event: "Twenty's user docs: { event, data, timestamp }",
  twenty: "what Twenty's own server sends, for drop-in receivers",
};

const ORDERING_HINTS: Record<Ordering, string> = {
  none: 'deliveries leave as fast as the endpoint takes them',
  record: 'the changes of one record leave one at a time, in commit order; a retry holds back only that record',
};

/** A labelled radio button or checkbox with a hint after its name. */
function choice(type: 'radio' | 'checkbox', name: string, value: string, checked: boolean, hint: string): string {
  return `
          <label class="choice"><input type="${type}" name="${name}" value="${value}"${checked ? ' checked' : ''}>
            <span><strong>${value}</strong> <span class="hint">${hint}</span></span></label>`;
}

const formatChoices = PAYLOAD_FORMATS.map((format) => choice('radio', 'format', format, format === 'record', FORMAT_HINTS[format])).join('');
const orderingChoices = ORDERINGS.map((ordering) => choice('radio', 'ordering', ordering, ordering === 'none', ORDERING_HINTS[ordering])).join('');
const signatureChoices = SIGNATURE_SCHEMES.map((scheme) =>
  choice('checkbox', 'signatures', scheme, true, `header ${SIGNATURE_HEADERS[scheme].signature}`),
).join('');

export const CONSOLE_PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>APIs &amp; Webhooks · walhook</title>
  <link rel="stylesheet" href="/console/console.css">
  <link rel="icon" href="/console/icon.svg" type="image/svg+xml">
  <script type="module" src="/console/main.js"></script>
</head>
<body>
  <a class="skip-link" href="#main">Skip to content</a>
  <header class="topbar">
    <span class="brand">walhook</span>
    <nav aria-label="Breadcrumb"><ol class="breadcrumb"><li>Settings</li><li><a href="#/">APIs &amp; Webhooks</a></li></ol></nav>
    <button type="button" id="sign-out" class="link-button" hidden>Sign out</button>
  </header>

  <main id="main">
    <p id="loading" role="status">Loading…</p>
    <p id="refresh-error" class="form-error" role="status"></p>

    <section id="view-sign-in" class="view" hidden aria-labelledby="sign-in-title">
      <h1 id="sign-in-title" tabindex="-1">Sign in</h1>
      <p>Enter the API token of this walhook (<code>api.token</code>, environment <code>WALHOOK_API_TOKEN</code>).
        It is kept in this browser tab only, until you sign out or close the tab.</p>
      <form id="sign-in-form" class="card narrow" novalidate>
        <div class="field">
          <label for="token">API token</label>
          <input id="token" name="token" type="password" autocomplete="current-password" required aria-describedby="token-error">
          <p class="field-error" id="token-error" data-error-for="token"></p>
        </div>
        <div class="actions"><button type="submit" class="primary">Sign in</button></div>
      </form>
    </section>

    <section id="view-list" class="view" hidden aria-labelledby="list-title">
      <div class="heading-row">
        <h1 id="list-title" tabindex="-1">Webhooks</h1>
        <a class="button primary" href="#/new">+ Create webhook</a>
      </div>
      <p class="form-error" id="list-error" role="alert"></p>
      <table class="data">
        <caption class="note">Deliveries of the last hour are counted by the walhook instance serving this page, since it started.</caption>
        <thead>
          <tr><th scope="col">URL</th><th scope="col">Operations</th><th scope="col">Format</th><th scope="col">Workspace</th><th scope="col">Status</th>
            <th scope="col">Last hour</th><th scope="col">Dead letters</th></tr>
        </thead>
        <tbody id="webhook-rows"></tbody>
      </table>
      <p id="list-empty" class="empty" hidden>No webhooks yet. Create one to receive events.</p>
      <h2 id="partitions-title">Streaming</h2>
      <table class="data" aria-labelledby="partitions-title">
        <caption class="note">Which replica streams which slot (source.partitions), as the instance serving this page last read the leases and slots.</caption>
        <thead>
          <tr><th scope="col">Partition</th><th scope="col">Slot</th><th scope="col">Streamed by</th><th scope="col">Lag</th></tr>
        </thead>
        <tbody id="partition-rows"></tbody>
      </table>
      <p id="partitions-empty" class="empty" hidden>This instance does not know its partitions yet.</p>
    </section>

    <section id="view-form" class="view" hidden aria-labelledby="form-title">
      <p><a id="form-back" href="#/">← Webhooks</a></p>
      <h1 id="form-title" tabindex="-1">Create webhook</h1>
      <form id="webhook-form" class="card" novalidate>
        <div class="form-error error-summary" id="form-summary" role="alert" tabindex="-1"></div>
        <p class="form-error" id="form-error" role="alert"></p>
        <div class="field">
          <label for="targetUrl">Target URL</label>
          <input id="targetUrl" name="targetUrl" type="url" required placeholder="https://example.com/webhooks/twenty"
            aria-describedby="targetUrl-error">
          <p class="field-error" id="targetUrl-error" data-error-for="targetUrl"></p>
        </div>
        <div class="field">
          <label for="description">Description <span class="hint">(optional)</span></label>
          <input id="description" name="description" type="text" aria-describedby="description-error">
          <p class="field-error" id="description-error" data-error-for="description"></p>
        </div>
        <fieldset class="field" aria-describedby="operations-hint operations-error">
          <legend>Operations</legend>
          <p class="hint" id="operations-hint">Objects walhook streams × actions; <code>*</code> stands for any object or any action.</p>
          <div class="grid-scroll"><table class="operations" id="operations-grid"></table></div>
          <label for="extraOperations">Other operations <span class="hint">(comma-separated, e.g. for an object not streamed yet: <code>pet.created</code>)</span></label>
          <input id="extraOperations" name="extraOperations" type="text">
          <p class="field-error" id="operations-error" data-error-for="operations"></p>
        </fieldset>
        <fieldset class="field" aria-describedby="format-error">
          <legend>Format</legend>${formatChoices}
          <p class="field-error" id="format-error" data-error-for="format"></p>
        </fieldset>
        <fieldset class="field" aria-describedby="ordering-error">
          <legend>Ordering</legend>${orderingChoices}
          <p class="field-error" id="ordering-error" data-error-for="ordering"></p>
        </fieldset>
        <div class="field">
          <label for="maxPerSecond">Max per second <span class="hint">(optional: requests per second at most to this endpoint, such as 10 or 0.5)</span></label>
          <input id="maxPerSecond" name="maxPerSecond" type="text" inputmode="decimal" spellcheck="false" placeholder="no limit"
            aria-describedby="maxPerSecond-error">
          <p class="field-error" id="maxPerSecond-error" data-error-for="maxPerSecond"></p>
        </div>
        <fieldset class="field" aria-describedby="batch-error">
          <legend>Batching <span class="hint">(optional: several events per request; all empty: one event per request)</span></legend>
          <p class="field-error" id="batch-error" data-error-for="batch"></p>
          <div class="field">
            <label for="batch.maxEvents">Max events <span class="hint">(${BATCH_LIMITS.maxEvents.min} to ${BATCH_LIMITS.maxEvents.max}; empty: ${BATCH_DEFAULTS.maxEvents})</span></label>
            <input id="batch.maxEvents" name="batch.maxEvents" type="text" inputmode="numeric" spellcheck="false" placeholder="${BATCH_DEFAULTS.maxEvents}"
              aria-describedby="batch.maxEvents-error">
            <p class="field-error" id="batch.maxEvents-error" data-error-for="batch.maxEvents"></p>
          </div>
          <div class="field">
            <label for="batch.maxBytes">Max bytes <span class="hint">(largest body, at most delivery.maxPayloadBytes; empty: ${BATCH_DEFAULTS.maxBytes})</span></label>
            <input id="batch.maxBytes" name="batch.maxBytes" type="text" inputmode="numeric" spellcheck="false" placeholder="${BATCH_DEFAULTS.maxBytes}"
              aria-describedby="batch.maxBytes-error">
            <p class="field-error" id="batch.maxBytes-error" data-error-for="batch.maxBytes"></p>
          </div>
          <div class="field">
            <label for="batch.linger">Linger <span class="hint">(longest an event waits for others, such as 200ms or 1s; empty: ${formatDuration(BATCH_DEFAULTS.linger)})</span></label>
            <input id="batch.linger" name="batch.linger" type="text" spellcheck="false" placeholder="${formatDuration(BATCH_DEFAULTS.linger)}"
              aria-describedby="batch.linger-error">
            <p class="field-error" id="batch.linger-error" data-error-for="batch.linger"></p>
          </div>
        </fieldset>
        <fieldset class="field" aria-describedby="signatures-error">
          <legend>Signatures</legend>${signatureChoices}
          <p class="field-error" id="signatures-error" data-error-for="signatures"></p>
        </fieldset>
        <div class="field">
          <label for="workspaceId">Workspace <span class="hint">(optional: only the events of this Twenty workspace id, such as 20202020-1c25-4d02-bf25-6aeccf7ea419)</span></label>
          <input id="workspaceId" name="workspaceId" type="text" spellcheck="false" placeholder="every workspace"
            aria-describedby="workspaceId-error">
          <p class="field-error" id="workspaceId-error" data-error-for="workspaceId"></p>
        </div>
        <div class="field">
          <label for="changedFields">Changed fields <span class="hint">(optional, comma-separated: updates are sent only when one of these changed, such as <code>jobTitle, stage</code>; <code>name</code> covers <code>name.firstName</code>)</span></label>
          <input id="changedFields" name="changedFields" type="text" spellcheck="false" placeholder="every update"
            aria-describedby="changedFields-error">
          <p class="field-error" id="changedFields-error" data-error-for="changedFields"></p>
        </div>
        <div class="field">
          <label for="filter">Filter <span class="hint">(optional CEL condition over <code>record</code>, <code>previousRecord</code>, <code>operation</code>, <code>workspaceId</code>, <code>updatedFields</code>, such as <code>record.stage == "CUSTOMER" &amp;&amp; previousRecord.stage != "CUSTOMER"</code>)</span></label>
          <textarea id="filter" name="filter" rows="3" spellcheck="false" placeholder="every event" aria-describedby="filter-error"></textarea>
          <p class="field-error" id="filter-error" data-error-for="filter"></p>
          <button type="button" id="filter-try">Try on recent events</button>
          <div id="filter-results" aria-live="polite"></div>
        </div>
        <div class="actions">
          <button type="submit" class="primary" id="form-submit">Save</button>
          <a class="button" id="form-cancel" href="#/">Cancel</a>
        </div>
      </form>
    </section>

    <section id="view-detail" class="view" hidden aria-labelledby="detail-title">
      <p><a href="#/">← Webhooks</a></p>
      <section id="secret-panel" class="secret-panel" hidden aria-labelledby="secret-title">
        <h2 id="secret-title">Signing secret</h2>
        <p><strong>Copy it now: you won't see this again.</strong> Receivers need it to verify signatures;
          walhook keeps it encrypted and never shows it again.</p>
        <div class="copy-row">
          <label for="secret-value" class="visually-hidden">Secret to copy</label>
          <input id="secret-value" type="text" readonly spellcheck="false">
          <button type="button" id="copy-secret" class="primary">Copy</button>
          <span id="copy-status" role="status"></span>
        </div>
        <p id="secret-overlap" class="hint"></p>
        <button type="button" id="secret-done">I have saved it</button>
      </section>
      <div class="heading-row">
        <h1 id="detail-title" tabindex="-1"></h1>
        <span id="detail-status" class="badge"></span>
      </div>
      <dl id="detail-fields" class="fields"></dl>
      <section id="enable-panel" class="disabled-panel" hidden aria-labelledby="enable-title">
        <h2 id="enable-title">Disabled: it receives nothing</h2>
        <p>Disabled because: <strong id="disabled-reason"></strong></p>
        <div class="actions">
          <button type="button" id="enable-webhook" class="primary">Enable</button>
          <button type="button" id="enable-redeliver" aria-describedby="enable-redeliver-hint">Enable and redeliver missed</button>
        </div>
        <p class="hint" id="enable-redeliver-hint">Enable and redeliver missed: the dead letters since it began failing are sent again,
          with their original ids.</p>
        <p class="form-error" id="enable-error" role="alert"></p>
      </section>
      <p id="enable-result" class="done" role="status"></p>
      <div class="actions" id="detail-actions">
        <a class="button" id="edit-webhook" href="#/">Edit</a>
        <button type="button" id="disable-webhook">Disable</button>
        <button type="button" id="rotate-secret">Rotate secret</button>
        <button type="button" id="show-backfill">Backfill</button>
        <button type="button" id="delete-webhook" class="danger">Delete</button>
      </div>
      <p id="read-only-note" class="note" hidden></p>
      <p class="form-error" id="detail-error" role="alert"></p>
      <form id="backfill-form" class="card narrow" hidden novalidate aria-labelledby="backfill-title">
        <h2 id="backfill-title">Backfill</h2>
        <p class="hint">Sends the object's existing rows to this webhook as <code>object.backfilled</code> events, in step with the live stream.</p>
        <label for="backfill-object">Object</label>
        <select id="backfill-object" name="object" required></select>
        <label for="backfill-where">Only rows where (SQL, optional)</label>
        <input id="backfill-where" name="where" type="text" placeholder="&quot;updatedAt&quot; &gt; now() - interval '1 day'">
        <div class="actions"><button type="submit" id="start-backfill">Start backfill</button></div>
        <p class="form-error" id="backfill-error" role="alert"></p>
      </form>
      <p id="backfill-progress" role="status"></p>

      <h2 id="attempts-title">Recent attempts</h2>
      <table class="data" id="attempts-table" aria-labelledby="attempts-title">
        <caption class="note">Made by this instance, newest first; kept in memory (the last 200), so a restart forgets them.</caption>
        <thead><tr><th scope="col">Time</th><th scope="col">Delivery</th><th scope="col">Status</th>
          <th scope="col">Duration</th><th scope="col">Error</th></tr></thead>
        <tbody></tbody>
      </table>
      <p class="empty" id="attempts-empty" hidden>No attempts yet.</p>

      <h2 id="waiting-title">Waiting for a retry</h2>
      <table class="data" id="waiting-table" aria-labelledby="waiting-title">
        <thead><tr><th scope="col">Delivery</th><th scope="col">Operation</th><th scope="col">Attempts</th>
          <th scope="col">Last error</th><th scope="col">Next attempt</th></tr></thead>
        <tbody></tbody>
      </table>
      <p class="empty" id="waiting-empty" hidden>None.</p>

      <div class="heading-row">
        <h2 id="dead-title">Dead letters</h2>
        <button type="button" id="redeliver-all">Redeliver all</button>
      </div>
      <p class="form-error" id="dead-error" role="alert"></p>
      <table class="data" id="dead-table" aria-labelledby="dead-title">
        <thead><tr><th scope="col">Delivery</th><th scope="col">Operation</th><th scope="col">Attempts</th>
          <th scope="col">Last error</th><th scope="col">Reason</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
        <tbody></tbody>
      </table>
      <p class="empty" id="dead-empty" hidden>None.</p>
    </section>
  </main>

  <dialog id="confirm-dialog" aria-labelledby="confirm-message">
    <form method="dialog">
      <p id="confirm-message"></p>
      <div class="actions">
        <button type="submit" value="cancel" autofocus>Cancel</button>
        <button type="submit" value="confirm" id="confirm-ok" class="danger"></button>
      </div>
    </form>
  </dialog>
</body>
</html>
`;
