/**
 * The console's stylesheet: system fonts, one column up to a laptop's width,
 * contrast of at least 4.5:1 for text, and a visible ring on whatever has
 * keyboard focus.
 */
export const CONSOLE_STYLES = `
:root {
  --text: #1d2127; --muted: #555d68; --line: #d5d9df; --page: #f5f6f8; --card: #ffffff;
  --accent: #1f5fbf; --accent-text: #ffffff; --danger: #b3261e; --ok: #1b6e35; --warn: #8a5300; --off: #5b6470;
  --focus: #f2a900;
  color-scheme: light;
}
* { box-sizing: border-box; }
/* Layout rules below set display; the hidden attribute must still win. */
[hidden] { display: none !important; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: var(--text); background: var(--page); }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 0.92em; }
a { color: var(--accent); }
h1 { font-size: 1.6rem; margin: 0.2rem 0 0.8rem; }
h2 { font-size: 1.15rem; margin: 1.8rem 0 0.5rem; }
h1:focus { outline: none; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }

.skip-link { position: absolute; left: -999px; top: 0.5rem; background: var(--card); padding: 0.4rem 0.8rem; }
.skip-link:focus { left: 0.5rem; z-index: 10; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }

.topbar { display: flex; align-items: center; gap: 1.5rem; padding: 0.7rem 2rem; background: #20252c; color: #f2f4f7; }
.topbar a, .topbar .link-button { color: #f2f4f7; }
.brand { font-weight: 700; letter-spacing: 0.02em; }
.breadcrumb { display: flex; list-style: none; margin: 0; padding: 0; }
.breadcrumb li + li::before { content: "→"; margin: 0 0.5rem; color: #aab2bd; }
#sign-out { margin-left: auto; }

main { max-width: 1180px; margin: 0 auto; padding: 1.2rem 2rem 3rem; }
.heading-row { display: flex; align-items: center; gap: 1rem; flex-wrap: wrap; }
.heading-row h1, .heading-row h2 { margin-right: auto; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 1.2rem 1.4rem; }
.narrow { max-width: 30rem; }
.note, .hint, caption { color: var(--muted); font-size: 0.9rem; font-weight: normal; }
caption { text-align: left; padding-bottom: 0.4rem; }
.empty { color: var(--muted); font-style: italic; }

button, .button { display: inline-block; font: inherit; padding: 0.4rem 0.9rem; border-radius: 6px; border: 1px solid #9aa3ae;
  background: var(--card); color: var(--text); cursor: pointer; text-decoration: none; line-height: 1.4; }
button:hover, .button:hover { background: #eef1f5; }
button.primary, .button.primary { background: var(--accent); border-color: var(--accent); color: var(--accent-text); }
button.primary:hover, .button.primary:hover { background: #194e9c; }
button.danger { color: var(--danger); border-color: var(--danger); }
button.danger:hover { background: #fbeceb; }
button:disabled { opacity: 0.6; cursor: progress; }
.link-button { border: none; background: none; padding: 0; text-decoration: underline; }
.link-button:hover { background: none; }
.actions { display: flex; gap: 0.6rem; flex-wrap: wrap; align-items: center; margin-top: 1rem; }

.field { margin: 0 0 1.1rem; padding: 0; border: none; }
fieldset.field { min-width: 0; }
.field > label, legend { display: block; font-weight: 600; margin-bottom: 0.3rem; padding: 0; }
input[type="url"], input[type="text"], input[type="password"] { width: 100%; max-width: 42rem; font: inherit; padding: 0.45rem 0.6rem;
  border: 1px solid #8d96a2; border-radius: 6px; background: var(--card); color: var(--text); }
input[aria-invalid="true"] { border-color: var(--danger); }
.choice { display: flex; gap: 0.5rem; align-items: baseline; margin: 0.25rem 0; font-weight: normal; }
.field-error, .form-error { color: var(--danger); margin: 0.3rem 0 0; font-weight: 600; }
.field-error:empty, .form-error:empty { display: none; }
.error-summary { border: 2px solid var(--danger); border-radius: 6px; padding: 0.6rem 0.9rem; margin-bottom: 1.1rem; }
.error-summary h2 { font-size: 1rem; margin: 0 0 0.3rem; }
.error-summary ul { margin: 0; padding-left: 1.2rem; }
.error-summary a { color: var(--danger); }
.warning { color: var(--danger); font-weight: 600; }

.grid-scroll { max-height: 22rem; overflow: auto; border: 1px solid var(--line); border-radius: 6px; margin: 0.4rem 0 0.8rem; max-width: 42rem; }
table.operations { border-collapse: collapse; width: 100%; background: var(--card); }
table.operations th, table.operations td { padding: 0.3rem 0.6rem; border-bottom: 1px solid var(--line); text-align: center; }
table.operations th[scope="row"] { text-align: left; font-weight: 600; }
table.operations thead th { position: sticky; top: 0; background: #eef1f5; font-weight: 600; }
table.operations input { width: 1.1rem; height: 1.1rem; }

table.data { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); }
table.data th, table.data td { text-align: left; padding: 0.5rem 0.7rem; border-bottom: 1px solid var(--line); vertical-align: top; }
table.data thead th { background: #eef1f5; font-weight: 600; }
table.data td.url { max-width: 24rem; overflow-wrap: anywhere; }
table.data td.error { max-width: 26rem; overflow-wrap: anywhere; }
.ops { display: flex; flex-wrap: wrap; gap: 0.25rem; }
.ops code { background: #eef1f5; border-radius: 4px; padding: 0 0.3rem; }

.badge { display: inline-block; padding: 0.05rem 0.55rem; border-radius: 999px; font-size: 0.85rem; font-weight: 600; border: 1px solid; }
.badge.active { color: var(--ok); border-color: var(--ok); background: #e8f4ec; }
.badge.failing { color: var(--warn); border-color: var(--warn); background: #fdf3e2; }
.badge.disabled { color: var(--off); border-color: var(--off); background: #eef0f2; }
.status-ok { color: var(--ok); font-weight: 600; }
.status-failed { color: var(--danger); font-weight: 600; }

.fields { display: grid; grid-template-columns: max-content 1fr; gap: 0.35rem 1.2rem; margin: 0.5rem 0; }
.fields dt { color: var(--muted); }
.fields dd { margin: 0; overflow-wrap: anywhere; }

.disabled-panel { border: 2px solid var(--off); background: #f4f5f7; border-radius: 8px; padding: 0.8rem 1.2rem 1rem; margin: 1rem 0; }
.disabled-panel h2 { margin-top: 0.2rem; }
.disabled-panel .actions { margin-top: 0.6rem; }
.done { color: var(--ok); font-weight: 600; }
.done:empty { display: none; }

.secret-panel { border: 2px solid var(--warn); background: #fffaf0; border-radius: 8px; padding: 0.8rem 1.2rem 1rem; margin-bottom: 1.2rem; }
.secret-panel h2 { margin-top: 0.2rem; }
.copy-row { display: flex; gap: 0.6rem; align-items: center; flex-wrap: wrap; }
.copy-row input { font-family: ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace; max-width: 40rem; }
#copy-status { color: var(--ok); font-weight: 600; }

dialog { border: 1px solid var(--line); border-radius: 8px; padding: 1.2rem 1.4rem; max-width: 32rem; }
dialog::backdrop { background: rgba(20, 24, 30, 0.45); }
`;
