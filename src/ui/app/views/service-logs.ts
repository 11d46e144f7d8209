import type { FlotillaClient } from '../../../client/client.ts';
import { dashboardClient } from '../api.ts';
import type { ClusterState } from '../cluster-state.ts';
import { h, replace } from '../dom.ts';
import { LogBuffer, taskLabel, type LogRecord } from '../log-buffer.ts';

/** Lines drawn at most (the newest that pass the filter); the buffer keeps more. */
const DRAWN = 1000;
/** Lines of each task's past output asked for when the stream opens. */
const TAIL = 200;

/**
 * A service's logs, streamed from all its tasks (and the tasks that start later) through
 * `GET /v1/services/NAME/logs?follow`, interleaved as they arrive, each line named by its task
 * (`web.2`). Filter by text and by task; Pause freezes what is shown while lines are still
 * kept (bounded: the oldest go first); Follow shows them again and keeps the newest in view
 * (unless the reader scrolled up). The stream opens once the service exists and closes with
 * the view (`dispose`).
 */
export function serviceLogs(name: string, client: FlotillaClient = dashboardClient()): { element: HTMLElement; update(state: ClusterState): void; dispose(): void } {
  const buffer = new LogBuffer();
  const abort = new AbortController();
  let opened = false;
  let following = true;
  let frame = false;
  let shownUpTo = 0;
  let taskFilter: string | undefined;
  let knownTasks = '';

  const text = h('input', { type: 'search', placeholder: 'filter lines', 'aria-label': 'filter log lines', 'data-test': 'log-filter' });
  const select = h('select', { 'aria-label': 'show the lines of', 'data-test': 'log-task' }, h('option', { value: '' }, 'all tasks'));
  const follow = h('button', { type: 'button', 'aria-pressed': 'true', 'data-test': 'log-follow' }, 'Pause');
  const clear = h('button', { type: 'button' }, 'Clear');
  const status = h('span', { class: 'muted', 'data-test': 'log-status', role: 'status' }, 'waiting for the service');
  const lines = h('div', { class: 'logs mono', 'data-test': 'logs', tabindex: 0, 'aria-label': `logs of ${name}` });
  const element = h('div', { class: 'log-panel' }, h('div', { class: 'toolbar' }, text, select, follow, clear, status), lines);

  const label = (r: LogRecord): string => taskLabel(name, r.taskId, r.slot);
  const schedule = (): void => {
    if (frame) return;
    frame = true;
    requestAnimationFrame(() => {
      frame = false;
      draw();
    });
  };
  const draw = (toEnd = false): void => {
    // Following keeps the newest line in view, unless the reader scrolled up to read.
    const atEnd = lines.scrollHeight - lines.scrollTop - lines.clientHeight < 40;
    const shown = buffer.filtered({ text: text.value, ...(taskFilter !== undefined ? { taskId: taskFilter } : {}) }).slice(-DRAWN);
    if (shown.length === 0) {
      replace(lines, h('div', { class: 'muted' }, buffer.size === 0 ? 'No lines yet.' : 'No line matches the filter.'));
    } else {
      replace(
        lines,
        ...shown.map((r) =>
          h('div', { class: `logline ${r.stream}`, 'data-task': r.taskId }, h('span', { class: 'who', title: `task ${r.taskId}${r.time ? ` at ${r.time}` : ''}` }, label(r)), h('span', { class: 'text' }, r.line)),
        ),
      );
    }
    shownUpTo = buffer.last;
    if (following && (atEnd || toEnd)) lines.scrollTop = lines.scrollHeight;
    drawStatus();
  };
  const drawStatus = (): void => {
    if (!opened) return;
    const waiting = buffer.last - shownUpTo;
    const dropped = buffer.dropped > 0 ? `, ${buffer.dropped} older dropped` : '';
    status.textContent = following ? `following · ${buffer.size} lines${dropped}` : `paused · ${waiting} new line${waiting === 1 ? '' : 's'} not shown${dropped}`;
  };
  const refreshTasks = (): void => {
    const key = [...buffer.tasks.keys()].join(',');
    if (key === knownTasks) return;
    knownTasks = key;
    const options = [...buffer.tasks].map(([id, slot]) => ({ id, text: taskLabel(name, id, slot) }));
    // A slot's successive tasks share a label: those are told apart by their id.
    const shared = new Map<string, number>();
    for (const o of options) shared.set(o.text, (shared.get(o.text) ?? 0) + 1);
    for (const o of options) if ((shared.get(o.text) ?? 0) > 1) o.text = `${o.text} (${o.id.slice(0, 8)})`;
    options.sort((a, b) => a.text.localeCompare(b.text, undefined, { numeric: true }));
    replace(select, h('option', { value: '' }, 'all tasks'), ...options.map((o) => h('option', { value: o.id, selected: o.id === taskFilter }, o.text)));
  };

  text.addEventListener('input', () => draw(true));
  select.addEventListener('change', () => {
    taskFilter = select.value === '' ? undefined : select.value;
    draw(true);
  });
  follow.addEventListener('click', () => {
    following = !following;
    follow.textContent = following ? 'Pause' : 'Follow';
    follow.setAttribute('aria-pressed', String(following));
    if (following) draw(true);
    else drawStatus();
  });
  clear.addEventListener('click', () => {
    buffer.clear();
    draw();
  });

  const open = async (): Promise<void> => {
    status.textContent = 'connecting';
    try {
      for await (const entry of client.serviceLogs(name, { follow: true, tail: TAIL, signal: abort.signal })) {
        buffer.push(entry);
        refreshTasks();
        if (following) schedule();
        else drawStatus();
      }
      if (!abort.signal.aborted) status.textContent = 'the log stream ended (the service is gone)';
    } catch (err) {
      if (abort.signal.aborted) return;
      status.textContent = `cannot read the logs: ${(err as Error).message}`;
      status.className = 'problem';
    }
  };

  draw();
  return {
    element,
    update(state) {
      if (opened || state.status === 'loading') return;
      if (![...state.services.values()].some((s) => s.spec.name === name)) return;
      opened = true;
      void open();
    },
    dispose() {
      abort.abort();
    },
  };
}
