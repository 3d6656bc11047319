// A small layered graph in SVG, laid out by hand (the graphs are a handful of nodes: a request's chain, a
// table with its upstream and downstream tables). Columns left to right; on a narrow screen the same layers
// go top to bottom. Text goes in as text nodes; nothing from the API becomes markup.

const NS = "http://www.w3.org/2000/svg";
const NODE_W = 220;
const NODE_H = 54;
const GAP_MAIN = 44; // between layers
const GAP_CROSS = 14; // between nodes of one layer
const PAD = 6;
const MAX_CHARS = 27;

function s(tag, attrs = {}, ...children) {
  const element = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) element.setAttribute(name, String(value));
  }
  for (const child of children) element.append(child instanceof Node ? child : document.createTextNode(child));
  return element;
}

const clip = (text) => (text.length > MAX_CHARS ? `${text.slice(0, MAX_CHARS - 1)}…` : text);

/** Shorten a drawn label until it fits its box (the full text is the node's title). */
function fit(text) {
  const room = NODE_W - 20;
  let label = text.textContent;
  while (label.length > 4 && text.getComputedTextLength() > room) {
    label = label.slice(0, -2);
    text.textContent = `${label}…`;
  }
}

/** Where each node goes: layers along the main axis, a layer's nodes centred on the cross axis. */
function layout(layers, vertical) {
  const widest = Math.max(1, ...layers.map((layer) => layer.length));
  const stepMain = (vertical ? NODE_H : NODE_W) + GAP_MAIN;
  const stepCross = (vertical ? NODE_W : NODE_H) + GAP_CROSS;
  const size = (count, step, gap) => count * step - gap;
  const cross = size(widest, stepCross, GAP_CROSS);
  const places = new Map();
  layers.forEach((layer, i) => {
    const offset = (cross - size(layer.length, stepCross, GAP_CROSS)) / 2;
    layer.forEach((node, j) => {
      const main = PAD + i * stepMain;
      const across = PAD + offset + j * stepCross;
      places.set(node.id, vertical ? { x: across, y: main, node } : { x: main, y: across, node });
    });
  });
  const length = size(layers.length, stepMain, GAP_MAIN);
  const [width, height] = vertical ? [cross, length] : [length, cross];
  return { places, width: width + 2 * PAD, height: height + 2 * PAD };
}

function edgePath(from, to, vertical) {
  if (vertical) {
    const [x1, y1, x2, y2] = [from.x + NODE_W / 2, from.y + NODE_H, to.x + NODE_W / 2, to.y];
    const mid = (y1 + y2) / 2;
    return `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2 - 2}`;
  }
  const [x1, y1, x2, y2] = [from.x + NODE_W, from.y + NODE_H / 2, to.x, to.y + NODE_H / 2];
  const mid = (x1 + x2) / 2;
  return `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2 - 2},${y2}`;
}

function drawNode({ x, y, node }) {
  const body = [
    s("title", {}, [node.title, node.detail].filter(Boolean).join(" — ")),
    s("rect", { x, y, width: NODE_W, height: NODE_H, rx: 6, class: "node-box" }),
    s("text", { x: x + 10, y: y + 21, class: "node-title" }, clip(node.title)),
    s("text", { x: x + 10, y: y + 40, class: "node-detail" }, clip(node.detail || "")),
  ];
  const attrs = { class: `node ${node.kind}${node.current ? " current" : ""}`, "data-node": node.id };
  if (node.href) return s("a", { ...attrs, href: node.href }, ...body);
  return s("g", attrs, ...body);
}

/**
 * Draw `layers` (arrays of nodes {id, kind, title, detail?, href?, current?}) joined by `edges`
 * ([fromId, toId]) into `host`, replacing what it held; `label` names the graph for screen readers.
 */
export function drawGraph(host, layers, edges, label) {
  const shown = layers.filter((layer) => layer.length);
  const wide = layout(shown, false);
  const vertical = host.clientWidth > 0 && host.clientWidth < wide.width && shown.length > 1;
  const { places, width, height } = vertical ? layout(shown, true) : wide;
  const marker = `arrow-${host.id}`;
  const svg = s(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, width, height, role: "group", "aria-label": label, class: "graph-svg" },
    s(
      "defs",
      {},
      s(
        "marker",
        { id: marker, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
        s("path", { d: "M0,0 L10,5 L0,10 z", class: "edge-head" }),
      ),
    ),
  );
  for (const [from, to] of edges) {
    if (!places.has(from) || !places.has(to)) continue;
    svg.append(
      s("path", {
        d: edgePath(places.get(from), places.get(to), vertical),
        class: "edge",
        "marker-end": `url(#${marker})`,
        "data-edge": `${from} ${to}`,
      }),
    );
  }
  for (const place of places.values()) svg.append(drawNode(place));
  host.replaceChildren(svg);
  for (const text of svg.querySelectorAll("text")) fit(text);
  host.dataset.nodes = String(places.size);
  host.dataset.layout = vertical ? "vertical" : "horizontal";
  return svg;
}
