// neutrino /ui: draws nodes, tunnels, flood lists and ports from
// /ui/state.json and redraws when /ui/events announces a new revision.
"use strict";
const svgNS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
let topo = null, selected = "";

function el(name, attrs, parent) {
  const e = document.createElementNS(svgNS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function h(tag, text, parent, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}

function matches(q) {
  // Hosts matching the search: by host, VTEP, or a port's id, name, IP or MAC.
  const out = new Set();
  if (!q) return out;
  q = q.toLowerCase();
  for (const n of topo.nodes) if (n.host.toLowerCase().includes(q) || (n.vtep || "").includes(q)) out.add(n.host);
  for (const p of topo.ports) {
    if ([p.id, p.name, p.mac, ...p.ips].some((s) => (s || "").toLowerCase().includes(q))) out.add(p.host);
  }
  return out;
}

function layout(nodes) {
  // A circle, sorted by host so neighbours in name are neighbours drawn.
  const pos = {}, n = nodes.length, r = n > 1 ? 400 : 0;
  nodes.forEach((node, i) => {
    const a = (2 * Math.PI * i) / Math.max(n, 1) - Math.PI / 2;
    pos[node.host] = [500 + r * Math.cos(a), 500 + r * Math.sin(a)];
  });
  return pos;
}

function draw() {
  const svg = $("mesh");
  svg.replaceChildren();
  const defs = el("defs", {}, svg);
  const m = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "18", refY: "5", markerWidth: "6", markerHeight: "6", orient: "auto-start-reverse" }, defs);
  el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#f97316" }, m);
  const net = $("network").value, q = $("search").value.trim();
  const hits = matches(q);
  const nodes = topo.nodes, big = nodes.length > 40, pos = layout(nodes);
  const radius = big ? Math.max(6, 160 / Math.sqrt(nodes.length)) : 34;
  const ports = {};
  for (const p of topo.ports) if (!net || p.network_id === net) (ports[p.host] ||= []).push(p);
  const hosting = new Set(net ? topo.ports.filter((p) => p.network_id === net).map((p) => p.host) : []);
  const g = el("g", { id: "tunnels" }, svg);
  for (const [a, b] of topo.tunnels) {
    if (!pos[a] || !pos[b]) continue;
    const focus = !selected || selected === a || selected === b;
    el("line", { class: "tunnel" + (net || !focus || big ? " dim" : ""), "data-a": a, "data-b": b,
      x1: pos[a][0], y1: pos[a][1], x2: pos[b][0], y2: pos[b][1] }, g);
  }
  if (net) {
    const f = el("g", { id: "flood" }, svg);
    for (const n of nodes) {
      for (const to of (n.flood[net] || [])) {
        if (!pos[to] || (selected && selected !== n.host)) continue;
        el("line", { class: "flood", "data-from": n.host, "data-to": to, "data-net": net,
          x1: pos[n.host][0], y1: pos[n.host][1], x2: pos[to][0], y2: pos[to][1] }, f);
      }
    }
  }
  const gn = el("g", { id: "nodes" }, svg);
  for (const n of nodes) {
    const [x, y] = pos[n.host];
    let cls = "node" + (n.agent_type === "Linux bridge agent" ? " lb" : "") + (n.alive ? "" : " dead");
    if (net && !hosting.has(n.host) && !(n.flood[net])) cls += " off";
    if (hits.has(n.host)) cls += " match";
    if (selected === n.host) cls += " selected";
    const c = el("circle", { class: cls, cx: x, cy: y, r: radius, "data-host": n.host, "data-vtep": n.vtep,
      "data-tunnels": n.tunnels.join(" ") }, gn);
    el("title", {}, c).textContent = `${n.host} ${n.vtep}\n${n.agent_type}${n.alive ? "" : " (dead)"}\ntunnels: ${n.tunnels.length}`;
    c.addEventListener("click", () => { selected = selected === n.host ? "" : n.host; render(); });
    if (!big) el("text", { class: "count", x, y }, gn).textContent = (ports[n.host] || []).length;
    if (!big || hits.has(n.host) || selected === n.host) {
      el("text", { class: "label", x, y: y - radius - 18 }, gn).textContent = n.host;
      el("text", { class: "vtep", x, y: y - radius - 4 }, gn).textContent = n.vtep;
    }
  }
}

function side() {
  const s = $("side");
  s.replaceChildren();
  const net = $("network").value, q = $("search").value.trim(), hits = matches(q);
  h("div", "circle: node (blue OVS, purple Linux bridge, red dead; number = ports); grey line: tunnel; orange arrow: flood copy of the selected network. Click a node for details.", s, "legend");
  const show = (n) => {
    h("h2", `${n.host}  ${n.vtep}`, s);
    h("div", `${n.agent_type}, ${n.alive ? "alive" : "dead"}, ${n.l2pop ? "l2population" : "full mesh"}`, s, "muted");
    h("div", `tunnels (${n.tunnels.length}): ${n.tunnels.join(", ") || "none"}`, s);
    const t = h("table", undefined, s);
    for (const [id, to] of Object.entries(n.flood)) {
      const nw = topo.networks.find((x) => x.id === id);
      const tr = h("tr", undefined, t);
      h("td", nw ? `${nw.name || id} (VNI ${nw.vni})` : id, tr);
      h("td", "flood to " + (to.join(", ") || "nobody"), tr);
    }
    const pt = h("table", undefined, s);
    for (const p of topo.ports.filter((p) => p.host === n.host && (!net || p.network_id === net))) {
      const tr = h("tr", undefined, pt);
      h("td", p.name || p.id.slice(0, 8), tr); h("td", p.ips.join(" "), tr); h("td", p.mac, tr); h("td", p.status, tr);
    }
  };
  if (selected) {
    const n = topo.nodes.find((x) => x.host === selected);
    if (n) show(n);
  }
  if (q) {
    h("h2", `search: ${hits.size} node(s)`, s);
    for (const n of topo.nodes) if (hits.has(n.host) && n.host !== selected) show(n);
    return;
  }
  if (!selected) {
    // Grouped: by agent type, alive first; one line per node.
    h("h2", "nodes", s);
    const t = h("table", undefined, s);
    const hr = h("tr", undefined, t);
    for (const c of ["node", "VTEP", "type", "tunnels", "ports"]) h("th", c, hr);
    const sorted = [...topo.nodes].sort((a, b) => (a.agent_type + !a.alive + a.host).localeCompare(b.agent_type + !b.alive + b.host));
    for (const n of sorted) {
      const tr = h("tr", undefined, t);
      tr.style.cursor = "pointer";
      tr.addEventListener("click", () => { selected = n.host; render(); });
      h("td", n.host + (n.alive ? "" : " (dead)"), tr); h("td", n.vtep, tr);
      h("td", n.agent_type.replace(" agent", ""), tr); h("td", n.tunnels.length, tr);
      h("td", topo.ports.filter((p) => p.host === n.host).length, tr);
    }
  }
}

function render() {
  if (!topo) return;
  const mode = $("mode");
  mode.textContent = topo.l2pop ? "l2population: partial mesh" : "full mesh";
  mode.className = "badge" + (topo.l2pop ? " l2pop" : "");
  $("summary").textContent = `${topo.nodes.length} nodes, ${topo.tunnels.length} tunnels, ${topo.networks.length} networks, ${topo.ports.length} ports`;
  $("revision").textContent = "revision " + topo.revision;
  const sel = $("network"), keep = sel.value;
  sel.replaceChildren(new Option("all (tunnels)", ""));
  for (const n of topo.networks) sel.appendChild(new Option(`${n.name || n.id.slice(0, 8)} (VNI ${n.vni})`, n.id));
  sel.value = topo.networks.some((n) => n.id === keep) ? keep : "";
  document.body.dataset.revision = topo.revision;
  draw();
  side();
}

async function load() {
  const r = await fetch("state.json", { cache: "no-store" });
  if (r.ok) { topo = await r.json(); render(); }
}

let pending = null;
function connect() {
  const es = new EventSource("events");
  es.addEventListener("revision", () => {
    $("live").classList.add("on");
    clearTimeout(pending);
    pending = setTimeout(load, 150);
  });
  es.onerror = () => $("live").classList.remove("on");
}

const params = new URLSearchParams(location.search);
$("search").value = params.get("q") || "";
$("network").addEventListener("change", render);
$("search").addEventListener("input", render);
if (params.get("node")) selected = params.get("node");
load().then(() => {
  if (params.get("network")) { $("network").value = params.get("network"); render(); }
  // live=0: a snapshot for tools (headless screenshots) that wait for
  // the network to go quiet, which an event stream never does.
  if (params.get("live") !== "0") connect();
});
