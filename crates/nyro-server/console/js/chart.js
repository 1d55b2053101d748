// A small line chart on a canvas, hand-written: a time axis over a fixed window ending now,
// a value axis from 0 to a rounded maximum, and the line. Gaps (null values) break it.

const COLORS = { line: "#1f4e8c", fill: "rgba(31, 78, 140, 0.12)", grid: "#c9ced6", text: "#4a4f57" };

/** A round number at or above `v` (1, 2, 5 times a power of ten). */
export function niceMax(v) {
  if (!(v > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(v));
  for (const step of [1, 2, 5, 10]) if (v <= step * power) return step * power;
  return 10 * power;
}

/**
 * Draws `points` ([{ t, v }] with t in seconds, v a number or null) on `canvas` over the
 * `windowSeconds` before `now`, labelling values with `format`.
 */
export function drawChart(canvas, points, { now, windowSeconds, format }) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 320;
  const height = canvas.clientHeight || 140;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "11px system-ui, sans-serif";

  const left = 62;
  const right = width - 8;
  const top = 8;
  const bottom = height - 18;
  const values = points.map((p) => p.v).filter((v) => v !== null && Number.isFinite(v));
  const max = niceMax(Math.max(0, ...values));
  const x = (t) => left + ((t - (now - windowSeconds)) / windowSeconds) * (right - left);
  const y = (v) => bottom - (v / max) * (bottom - top);

  ctx.strokeStyle = COLORS.grid;
  ctx.fillStyle = COLORS.text;
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const frac of [0, 0.5, 1]) {
    const yy = y(max * frac);
    ctx.beginPath();
    ctx.moveTo(left, yy);
    ctx.lineTo(right, yy);
    ctx.stroke();
    ctx.fillText(format(max * frac), left - 4, yy);
  }
  ctx.textBaseline = "top";
  ctx.textAlign = "left";
  ctx.fillText(`-${Math.round(windowSeconds / 60)} min`, left, bottom + 4);
  ctx.textAlign = "right";
  ctx.fillText("now", right, bottom + 4);

  ctx.strokeStyle = COLORS.line;
  ctx.fillStyle = COLORS.line;
  ctx.lineWidth = 2;
  ctx.beginPath();
  let drawing = false;
  let last = null;
  for (const p of points) {
    if (p.v === null || !Number.isFinite(p.v) || p.t < now - windowSeconds) {
      drawing = false;
      continue;
    }
    if (drawing) ctx.lineTo(x(p.t), y(p.v));
    else ctx.moveTo(x(p.t), y(p.v));
    drawing = true;
    last = p;
  }
  ctx.stroke();
  if (last) {
    // The newest point as a dot, so a series of one point (or after a gap) shows.
    ctx.beginPath();
    ctx.arc(x(last.t), y(last.v), 3, 0, 2 * Math.PI);
    ctx.fill();
  }
  return { max };
}
