/**
 * A small strict parser of the Prometheus text exposition format (version 0.0.4), for tests of
 * `/metrics`: it refuses what a Prometheus server would refuse (bad names, bad escapes, samples
 * outside their family, duplicate series, histograms whose buckets are not cumulative or lack
 * `+Inf`), and throws with the line number.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name (`x_bucket`, `x_sum`, … for histograms). */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface MetricFamily {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<string>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** Suffixes a family's samples may carry, by type. */
const SUFFIXES: Record<MetricType, readonly string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

/** Parses an exposition; the families by name. Throws `Error('line N: …')` on anything malformed. */
export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, { name: string; type: MetricType; help: string; samples: Sample[]; typed: boolean; helped: boolean }>();
  const seen = new Set<string>();
  let current: string | undefined;
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  else throw new Error('the exposition must end with a newline');
  const family = (name: string): NonNullable<ReturnType<typeof families.get>> => {
    let f = families.get(name);
    if (!f) {
      f = { name, type: 'untyped', help: '', samples: [], typed: false, helped: false };
      families.set(name, f);
    }
    return f;
  };
  lines.forEach((line, i) => {
    const fail = (why: string): never => {
      throw new Error(`line ${i + 1}: ${why}: ${JSON.stringify(line)}`);
    };
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (!m) return; // a plain comment
      const [, kw, name = '', rest = ''] = m;
      if (!METRIC_NAME.test(name)) fail(`bad metric name ${name}`);
      const f = family(name);
      if (f.samples.length > 0) fail(`${kw} of ${name} after its samples`);
      if (kw === 'TYPE') {
        if (f.typed) fail(`second TYPE for ${name}`);
        if (!TYPES.has(rest.trim())) fail(`unknown type ${rest}`);
        f.type = rest.trim() as MetricType;
        f.typed = true;
      } else {
        if (f.helped) fail(`second HELP for ${name}`);
        f.help = unescapeHelp(rest, fail);
        f.helped = true;
      }
      current = name;
      return;
    }
    const s = parseSample(line, fail);
    const owner = ownerOf(s.name, current, families);
    if (owner === undefined) fail(`sample ${s.name} belongs to no family declared before it`);
    const f = family(owner as string);
    if (!SUFFIXES[f.type].includes(s.name.slice(f.name.length))) fail(`sample ${s.name} does not fit ${f.type} ${f.name}`);
    if (f.type === 'histogram' && s.name.endsWith('_bucket') && s.labels['le'] === undefined) fail('a bucket without le');
    const key = `${s.name}${JSON.stringify(Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
    if (seen.has(key)) fail(`duplicate series ${key}`);
    seen.add(key);
    f.samples.push(s);
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return new Map([...families].map(([k, f]) => [k, { name: f.name, type: f.type, help: f.help, samples: f.samples }]));
}

/** The family a sample belongs to: the current one if the name fits it, else one named exactly so. */
function ownerOf(name: string, current: string | undefined, families: ReadonlyMap<string, { type: MetricType }>): string | undefined {
  if (current !== undefined && name.startsWith(current)) {
    const t = families.get(current)?.type ?? 'untyped';
    if (SUFFIXES[t].includes(name.slice(current.length))) return current;
  }
  return families.has(name) ? name : undefined;
}

function parseSample(line: string, fail: (why: string) => never): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{)?/.exec(line);
  if (!m) return fail('bad sample name');
  const name = m[1] as string;
  let pos = m[0].length;
  const labels: Record<string, string> = {};
  if (m[2] === '{') {
    for (;;) {
      while (line[pos] === ' ') pos++;
      if (line[pos] === '}') {
        pos++;
        break;
      }
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/.exec(line.slice(pos));
      if (!lm) return fail(`bad label at column ${pos + 1}`);
      const label = lm[1] as string;
      if (!LABEL_NAME.test(label) || label.startsWith('__')) fail(`bad label name ${label}`);
      if (label in labels) fail(`label ${label} twice`);
      pos += lm[0].length;
      let value = '';
      for (;;) {
        const c = line[pos++];
        if (c === undefined) return fail('unterminated label value');
        if (c === '"') break;
        if (c === '\\') {
          const e = line[pos++];
          if (e === 'n') value += '\n';
          else if (e === '\\' || e === '"') value += e;
          else return fail(`bad escape \\${e ?? ''} in a label value`);
        } else value += c;
      }
      labels[label] = value;
      while (line[pos] === ' ') pos++;
      if (line[pos] === ',') pos++;
      else if (line[pos] !== '}') fail(`expected , or } at column ${pos + 1}`);
    }
  }
  const rest = line.slice(pos);
  const vm = /^ +(\S+)(?: +(-?\d+))?$/.exec(rest);
  if (!vm) return fail('expected a value (and an optional timestamp) after the name');
  return { name, labels, value: parseValue(vm[1] as string, fail) };
}

function parseValue(text: string, fail: (why: string) => never): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return fail(`bad value ${text}`);
  return Number(text);
}

function unescapeHelp(text: string, fail: (why: string) => never): string {
  return text.replace(/\\(.?)/g, (_, e: string) => {
    if (e === 'n') return '\n';
    if (e === '\\') return '\\';
    return fail(`bad escape \\${e} in HELP`);
  });
}

/** Per label set: buckets ascending by `le`, counts non-decreasing, `+Inf` present and equal to `_count`. */
function checkHistogram(f: { name: string; samples: Sample[] }): void {
  const series = new Map<string, { buckets: { le: number; n: number }[]; count?: number }>();
  const keyOf = (labels: Readonly<Record<string, string>>): string =>
    JSON.stringify(Object.entries(labels).filter(([k]) => k !== 'le').sort(([a], [b]) => (a < b ? -1 : 1)));
  for (const s of f.samples) {
    const k = keyOf(s.labels);
    const e = series.get(k) ?? { buckets: [] };
    series.set(k, e);
    if (s.name.endsWith('_bucket')) e.buckets.push({ le: parseValue(s.labels['le'] ?? '', (why) => { throw new Error(`${f.name}: ${why}`); }), n: s.value });
    else if (s.name.endsWith('_count')) e.count = s.value;
  }
  for (const [k, e] of series) {
    const last = e.buckets.at(-1);
    if (last?.le !== Infinity) throw new Error(`histogram ${f.name}${k}: no le="+Inf" bucket last`);
    for (let i = 1; i < e.buckets.length; i++) {
      const [a, b] = [e.buckets[i - 1], e.buckets[i]] as [{ le: number; n: number }, { le: number; n: number }];
      if (!(b.le > a.le) || b.n < a.n) throw new Error(`histogram ${f.name}${k}: buckets not ascending and cumulative at le=${b.le}`);
    }
    if (e.count !== last.n) throw new Error(`histogram ${f.name}${k}: _count ${e.count} is not the +Inf bucket ${last.n}`);
  }
}
