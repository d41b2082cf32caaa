// The console's three charts, drawn with the vendored Chart.js (global `Chart`).

const Chart = globalThis.Chart;

const PALETTE = [
  "#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6",
  "#06b6d4", "#ec4899", "#84cc16", "#64748b", "#d97706",
];
const TOP_REGIONS = 12;
const TOP_CATEGORIES = 8;

Chart.defaults.animation = false; // figures, not motion: the page redraws on refresh
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
Chart.defaults.plugins.legend.labels.boxWidth = 12;

/** Draws a chart on the canvas `id`, or gives the one already there the new figures. */
function draw(id, config) {
  const canvas = document.getElementById(id);
  const chart = Chart.getChart(canvas);
  if (!chart) return new Chart(canvas, config);
  chart.data = config.data;
  chart.options = config.options;
  chart.update();
  return chart;
}

const counts = { beginAtZero: true, ticks: { precision: 0 } };

/** Petitions per period: `points` are [{period, petitions}] with every period present. */
export function volume(points) {
  return draw("chart-volume", {
    type: "line",
    data: {
      labels: points.map((p) => p.period.slice(5)),
      datasets: [
        {
          label: "信访件数 petitions",
          data: points.map((p) => p.petitions),
          borderColor: PALETTE[0],
          backgroundColor: "rgba(37, 99, 235, 0.12)",
          fill: true,
          tension: 0.2,
          pointRadius: 2,
        },
      ],
    },
    options: { scales: { y: counts }, plugins: { legend: { display: false } } },
  });
}

/**
 * Stacked bars, one per region, one colour per category. `cells` are
 * [{region, category, petitions}]; `regionName` and `categoryName` give the labels.
 */
export function categoriesByRegion(cells, regionName, categoryName) {
  const total = (key) => {
    const sums = new Map();
    for (const cell of cells) sums.set(cell[key], (sums.get(cell[key]) || 0) + cell.petitions);
    return [...sums].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).map(([k]) => k);
  };
  const regions = total("region").slice(0, TOP_REGIONS);
  const ranked = total("category");
  const shown = ranked.slice(0, TOP_CATEGORIES);
  const rest = new Set(ranked.slice(TOP_CATEGORIES));
  const series = shown.map((category) => ({ key: [category], label: categoryName(category) }));
  if (rest.size) series.push({ key: [...rest], label: "其他类别 others" });
  const datasets = series.map((s, i) => ({
    label: s.label,
    backgroundColor: PALETTE[i % PALETTE.length],
    data: regions.map((region) =>
      cells
        .filter((c) => c.region === region && s.key.includes(c.category))
        .reduce((sum, c) => sum + c.petitions, 0),
    ),
  }));
  return draw("chart-regions", {
    type: "bar",
    data: { labels: regions.map(regionName), datasets },
    options: {
      scales: { x: { stacked: true }, y: { ...counts, stacked: true } },
      plugins: { legend: { position: "bottom" } },
    },
  });
}

/** Horizontal bars: the satisfaction rate (%) of each unit or region that was rated. */
export function satisfaction(rows) {
  const short = (name) => (name.length > 16 ? `${name.slice(0, 15)}…` : name);
  return draw("chart-satisfaction", {
    type: "bar",
    data: {
      labels: rows.map((r) => short(r.name)),
      datasets: [
        {
          label: "满意率 satisfaction %",
          data: rows.map((r) => Math.round(r.rate * 1000) / 10),
          backgroundColor: rows.map((r) => (r.rate >= 0.8 ? PALETTE[2] : PALETTE[1])),
          maxBarThickness: 28,
          rated: rows.map((r) => r.rated),
          names: rows.map((r) => r.name),
        },
      ],
    },
    options: {
      indexAxis: "y",
      scales: { x: { min: 0, max: 100, ticks: { callback: (v) => `${v}%` } } },
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            title: (items) => items[0].dataset.names[items[0].dataIndex],
            label: (item) =>
              `满意率 ${item.formattedValue}%（${item.dataset.rated[item.dataIndex]} 次评价）`,
          },
        },
      },
    },
  });
}
