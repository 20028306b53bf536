// The status page: one HTML document, no build step. It polls /api/status and draws the cluster map (nodes,
// tables, where each shard copy lives, health) and the last minute's statement rate and latency as SVG.
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>vecshard status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; background: #fafafa; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  h2 { font-size: 16px; margin: 24px 0 8px; }
  .summary { color: #555; }
  .charts { display: flex; gap: 32px; flex-wrap: wrap; }
  .chart figcaption { font-weight: 600; }
  .chart .now { font-size: 22px; font-weight: 600; }
  svg text { font: 12px system-ui, sans-serif; }
  .up { fill: #2e7d32; } .down { fill: #c62828; } .removed { fill: #9e9e9e; }
  .error { color: #c62828; }
</style>
</head>
<body>
<h1>vecshard</h1>
<div class="summary" id="summary">loading…</div>
<div class="error" id="error"></div>
<h2>Queries, last 60 s</h2>
<div class="charts">
  <figure class="chart"><figcaption>statements per second</figcaption><div class="now" id="qps">–</div><svg id="qps-chart" width="360" height="90"></svg></figure>
  <figure class="chart"><figcaption>mean latency (ms)</figcaption><div class="now" id="latency">–</div><svg id="latency-chart" width="360" height="90"></svg></figure>
</div>
<h2>Cluster map</h2>
<p class="summary">Columns are nodes (green: answering, red: down). Each square is one copy of a shard, numbered by shard.</p>
<svg id="map" width="600" height="100"></svg>
<script>
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function sparkline(svg, values, color) {
  const w = +svg.getAttribute('width'), h = +svg.getAttribute('height'), pad = 4;
  const max = Math.max(1e-9, ...values.filter((v) => v !== null));
  const pts = values.map((v, i) => v === null ? null : [pad + (i * (w - 2 * pad)) / Math.max(1, values.length - 1), h - pad - ((h - 2 * pad) * v) / max]);
  const segs = [];
  let cur = [];
  for (const p of pts) { if (p) cur.push(p.map((x) => x.toFixed(1)).join(',')); else if (cur.length) { segs.push(cur); cur = []; } }
  if (cur.length) segs.push(cur);
  svg.innerHTML = '<rect x="0" y="0" width="' + w + '" height="' + h + '" fill="#fff" stroke="#ddd"/>' +
    segs.map((s) => '<polyline fill="none" stroke="' + color + '" stroke-width="1.5" points="' + s.join(' ') + '"/>').join('') +
    '<text x="' + (w - 4) + '" y="14" text-anchor="end" fill="#777">max ' + (Math.round(max * 10) / 10) + '</text>';
}

function drawMap(svg, s) {
  const nodes = s.nodes.filter((n) => !n.removed);
  const tables = s.databases.flatMap((d) => d.tables.map((t) => ({ ...t, db: d.name })));
  const colW = 150, labelW = 200, rowH = 40, headH = 56, sq = 16, gap = 3;
  const width = labelW + nodes.length * colW + 10;
  const height = headH + Math.max(1, tables.length) * rowH + 10;
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  let out = '';
  nodes.forEach((n, i) => {
    const x = labelW + i * colW;
    out += '<g class="node" data-node="' + n.id + '" data-up="' + n.up + '">' +
      '<rect x="' + (x + 4) + '" y="4" width="' + (colW - 8) + '" height="44" rx="6" class="' + (n.up ? 'up' : 'down') + '" opacity="0.15"/>' +
      '<circle cx="' + (x + 18) + '" cy="18" r="6" class="' + (n.up ? 'up' : 'down') + '"/>' +
      '<text x="' + (x + 30) + '" y="22" font-weight="600">node ' + n.id + (n.up ? '' : ' (down)') + '</text>' +
      '<text x="' + (x + 12) + '" y="40" fill="#555">' + esc(n.address.length > 20 ? '…' + n.address.slice(-19) : n.address) + '</text></g>';
  });
  if (!tables.length) out += '<text x="8" y="' + (headH + 24) + '" fill="#777">no distributed tables yet</text>';
  tables.forEach((t, r) => {
    const y = headH + r * rowH;
    const label = (t.db === 'postgres' ? '' : t.db + ': ') + (t.schema === 'public' ? '' : t.schema + '.') + t.name;
    out += '<g class="table" data-table="' + esc(t.name) + '">' +
      '<text x="8" y="' + (y + 16) + '" font-weight="600">' + esc(label) + '</text>' +
      '<text x="8" y="' + (y + 32) + '" fill="#555">' + esc(t.method + (t.column ? ' by ' + t.column : '') + ', ' + t.shards.length + ' shard' + (t.shards.length > 1 ? 's' : '')) + '</text>';
    nodes.forEach((n, i) => {
      const copies = t.shards.filter((sh) => sh.nodes.includes(n.id));
      const perRow = Math.floor((colW - 16) / (sq + gap));
      copies.forEach((sh, k) => {
        const x = labelW + i * colW + 8 + (k % perRow) * (sq + gap);
        const yy = y + 4 + Math.floor(k / perRow) * (sq + gap);
        out += '<g class="copy" data-table="' + esc(t.name) + '" data-shard="' + sh.index + '" data-node="' + n.id + '" data-up="' + n.up + '">' +
          '<title>' + esc(sh.name) + ' on node ' + n.id + '</title>' +
          '<rect x="' + x + '" y="' + yy + '" width="' + sq + '" height="' + sq + '" rx="2" class="' + (n.up ? 'up' : 'down') + '"/>' +
          '<text x="' + (x + sq / 2) + '" y="' + (yy + 12) + '" text-anchor="middle" fill="#fff" font-size="9">' + sh.index + '</text></g>';
      });
    });
    out += '</g>';
  });
  svg.innerHTML = out;
}

async function refresh() {
  try {
    const r = await fetch('/api/status', { cache: 'no-store' });
    const s = await r.json();
    const members = s.nodes.filter((n) => !n.removed);
    const up = members.filter((n) => n.up).length;
    const copies = s.databases.reduce((a, d) => a + d.tables.reduce((b, t) => b + t.shards.reduce((c, sh) => c + sh.nodes.length, 0), 0), 0);
    document.getElementById('summary').textContent = up + ' of ' + members.length + ' nodes answering · ' + s.clients + ' client' + (s.clients === 1 ? '' : 's') + ' connected · ' + copies + ' shard copies';
    const done = s.seconds.slice(0, -1); // the current second is still filling
    const last = done.slice(-5);
    const qps = last.reduce((a, b) => a + b.count, 0) / Math.max(1, last.length);
    const timed = last.filter((b) => b.meanMs !== null);
    document.getElementById('qps').textContent = qps.toFixed(1);
    document.getElementById('latency').textContent = timed.length ? (timed.reduce((a, b) => a + b.meanMs, 0) / timed.length).toFixed(2) : '–';
    sparkline(document.getElementById('qps-chart'), done.map((b) => b.count), '#1565c0');
    sparkline(document.getElementById('latency-chart'), done.map((b) => b.meanMs), '#ef6c00');
    drawMap(document.getElementById('map'), s);
    document.getElementById('error').textContent = '';
    document.body.dataset.updated = String(s.time);
  } catch (e) {
    document.getElementById('error').textContent = 'cannot reach the coordinator: ' + e.message;
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
`;
