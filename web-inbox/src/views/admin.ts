import { api, type Bot, type UsageReport } from '../api';
import { credits, fill, h, number, svg } from '../dom';

type Metric = 'credits' | 'tokens' | 'replies';

const METRICS: { id: Metric; label: string }[] = [
  { id: 'credits', label: 'Credits' },
  { id: 'tokens', label: 'Tokens' },
  { id: 'replies', label: 'AI replies' },
];

/** For admins: the bots, and AI usage per day (the last 30 days) as an inline SVG bar chart. */
export class AdminView {
  readonly el = h('section', { class: 'admin', 'data-testid': 'admin', 'aria-labelledby': 'admin-title' });

  private bots: Bot[] = [];
  private usage: UsageReport | null = null;
  private botId: string | null = null;
  private metric: Metric = 'credits';

  private readonly botsEl = h('div', { class: 'table-wrap' }, h('p', { class: 'muted' }, 'Loading bots…'));
  private readonly botSelect = h('select', { id: 'usage-bot', 'data-testid': 'usage-bot' });
  private readonly totals = h('p', { class: 'usage-totals', 'data-testid': 'usage-totals' });
  private readonly chart = h('figure', { class: 'chart', 'data-testid': 'usage-chart' });
  private readonly table = h('details', { class: 'usage-table' });

  constructor() {
    this.botSelect.addEventListener('change', () => {
      this.botId = this.botSelect.value || null;
      void this.loadUsage();
    });
    const metrics = h('fieldset', { class: 'metric' }, h('legend', { class: 'sr-only' }, 'Measure'),
      ...METRICS.map(({ id, label }) => {
        const input = h('input', { type: 'radio', name: 'usage-metric', value: id, id: `metric-${id}`, checked: id === this.metric });
        input.addEventListener('change', () => {
          this.metric = id;
          this.renderUsage();
        });
        return h('span', { class: 'radio' }, input, h('label', { for: `metric-${id}` }, label));
      }));

    fill(this.el,
      h('h2', { id: 'admin-title' }, 'Bots'),
      this.botsEl,
      h('h2', {}, 'Usage per day'),
      h('div', { class: 'chart-controls' }, h('label', { for: 'usage-bot' }, 'Bot'), this.botSelect, metrics),
      this.totals,
      this.chart,
      this.table);
  }

  async load(): Promise<void> {
    try {
      this.bots = await api.bots();
      this.renderBots();
    } catch (e) {
      fill(this.botsEl, h('p', { class: 'form-error' }, `Could not load the bots: ${(e as Error).message}`));
    }
    await this.loadUsage();
  }

  private usageRequest = 0;

  private async loadUsage(): Promise<void> {
    // Only the latest request may render: an earlier one (say, all bots) can answer after a later one.
    const request = ++this.usageRequest;
    try {
      const usage = await api.usage(this.botId);
      if (request !== this.usageRequest) return;
      this.usage = usage;
      this.renderUsage();
    } catch (e) {
      fill(this.chart, h('p', { class: 'form-error' }, `Could not load the usage: ${(e as Error).message}`));
    }
  }

  private renderBots(): void {
    fill(this.botSelect, h('option', { value: '' }, 'All bots'),
      ...this.bots.map((b) => h('option', { value: b.id, selected: b.id === this.botId }, b.name)));
    if (this.bots.length === 0) {
      fill(this.botsEl, h('p', { class: 'muted' }, 'No bots yet. Create one with POST /v1/bots.'));
      return;
    }
    fill(this.botsEl, h('table', { class: 'bots', 'data-testid': 'bots-table' },
      h('thead', {}, h('tr', {}, ...['Name', 'Id', 'Model', 'Webhook', 'Handoff keywords', 'Credits per 1k (in / out)'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, ...this.bots.map((b) => h('tr', { 'data-testid': 'bot-row', 'data-bot-id': b.id },
        h('th', { scope: 'row' }, b.name),
        h('td', {}, h('code', {}, b.id)),
        h('td', {}, b.model ?? 'default'),
        h('td', {}, b.webhook.url
          ? h('span', {}, h('span', { class: `badge webhook-${b.webhook.status}` }, b.webhook.status), ' ', h('span', { class: 'url' }, b.webhook.url),
            b.webhook.disabled_reason ? h('span', { class: 'muted' }, ` (${b.webhook.disabled_reason})`) : null)
          : h('span', { class: 'muted' }, 'none')),
        h('td', {}, b.handoff.keywords.length ? b.handoff.keywords.join(', ') : h('span', { class: 'muted' }, 'none')),
        h('td', {}, `${credits(b.pricing.input_credits_per_1k)} / ${credits(b.pricing.output_credits_per_1k)}`))))));
  }

  private renderUsage(): void {
    const u = this.usage;
    if (!u) return;
    const days = everyDay(u);
    const value = (d: DayUsage) => this.metric === 'credits' ? d.credits : this.metric === 'tokens' ? d.tokens : d.replies;
    const format = (n: number) => this.metric === 'credits' ? credits(n) : number(n);
    const label = METRICS.find((m) => m.id === this.metric)!.label;

    this.totals.textContent = `${fmtDate(u.from)} to ${fmtDate(new Date(Date.parse(u.to) - 1).toISOString())}: `
      + `${number(u.replies)} AI ${u.replies === 1 ? 'reply' : 'replies'} · ${number(u.tokens.total_tokens)} tokens · ${credits(u.credits.total_credits)} credits`;
    fill(this.chart,
      barChart(days.map((d) => ({ label: d.date, value: value(d) })), format, `${label} per day`),
      h('figcaption', { class: 'muted' }, `${label} per day (UTC), ${this.botId ? this.bots.find((b) => b.id === this.botId)?.name ?? this.botId : 'all bots'}`));
    fill(this.table, h('summary', {}, 'Show the numbers'),
      h('table', {},
        h('thead', {}, h('tr', {}, ...['Day', 'AI replies', 'Tokens', 'Credits'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, ...days.filter((d) => d.replies > 0).map((d) => h('tr', {},
          h('th', { scope: 'row' }, d.date), h('td', {}, number(d.replies)), h('td', {}, number(d.tokens)), h('td', {}, credits(d.credits)))))));
  }
}

interface DayUsage {
  date: string;
  replies: number;
  tokens: number;
  credits: number;
}

/** Every UTC day of the report's range, with zeros where nothing happened. */
function everyDay(u: UsageReport): DayUsage[] {
  const byDate = new Map(u.data.map((d) => [d.date, d]));
  const days: DayUsage[] = [];
  const end = Date.parse(u.to);
  for (let t = Date.parse(u.from.slice(0, 10) + 'T00:00:00Z'); t < end && days.length < 400; t += 86_400_000) {
    const date = new Date(t).toISOString().slice(0, 10);
    const d = byDate.get(date);
    days.push({ date, replies: d?.replies ?? 0, tokens: d?.tokens.total_tokens ?? 0, credits: d?.credits.total_credits ?? 0 });
  }
  return days;
}

function barChart(points: { label: string; value: number }[], format: (n: number) => string, title: string): SVGElement {
  const width = 960;
  const height = 220;
  const left = 64;
  const right = 12;
  const top = 12;
  const bottom = 32;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const max = niceMax(Math.max(0, ...points.map((p) => p.value)));
  const slot = plotW / Math.max(points.length, 1);
  const barW = Math.max(2, slot * 0.7);
  const y = (v: number) => top + plotH - (v / max) * plotH;

  const grid = [0, max / 2, max].map((v) => svg('g', { class: 'grid' },
    svg('line', { x1: left, x2: width - right, y1: y(v), y2: y(v) }),
    svg('text', { x: left - 8, y: y(v) + 4, 'text-anchor': 'end' }, format(v))));
  const labelEvery = Math.max(1, Math.ceil(points.length / 10));
  const bars = points.map((p, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    const barH = Math.max(p.value > 0 ? 1 : 0, (p.value / max) * plotH);
    return svg('g', { class: 'bar', 'data-date': p.label, 'data-value': p.value },
      svg('rect', { x, y: top + plotH - barH, width: barW, height: barH, rx: 2 }, svg('title', {}, `${p.label}: ${format(p.value)}`)),
      i % labelEvery === 0 || i === points.length - 1
        ? svg('text', { class: 'x-label', x: x + barW / 2, y: height - 10, 'text-anchor': 'middle' }, p.label.slice(5))
        : null);
  });
  return svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${title}: ${points.filter((p) => p.value > 0).length} days with usage, highest ${format(Math.max(0, ...points.map((p) => p.value)))}` },
    ...grid, ...bars);
}

/** 1, 2 or 5 times a power of ten, at least `v` (1 for an empty chart). */
function niceMax(v: number): number {
  if (v <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(v));
  for (const step of [1, 2, 5, 10]) if (step * power >= v) return step * power;
  return 10 * power;
}

function fmtDate(iso: string): string {
  return iso.slice(0, 10);
}
