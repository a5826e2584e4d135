// Hover-to-play map: draws a Plotly figure built in Python and plays a point's audio
// preview on hover, in the browser, with no round trip to Python. A click on a point
// and a lasso or box selection go back to Python as component state.
//
// data: {figure, version, plotly_url, preview_base, note, height}
// Every point's customdata is [row, preview file name or ""]; row < 0 marks a point
// that is not a clip of the run (the Live page's own clip).

const LOCKED = "Click once anywhere on the page to enable sound, then hover a point to hear it.";
const READY = "Sound on: hover a point to hear it · click it for details";

function loadPlotly(url) {
  // plotly.min.js (4.8 MB) is loaded once per browser tab and shared by every map.
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.__serPlotly) {
    window.__serPlotly = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = url;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => {
        window.__serPlotly = undefined;
        reject(new Error(`could not load ${url}`));
      };
      document.head.appendChild(script);
    });
  }
  return window.__serPlotly;
}

function soundAllowed(view) {
  // Browsers refuse play() until the page had a user gesture (a click or a key press).
  const activation = navigator.userActivation;
  return view.clicked || (activation !== undefined && activation.hasBeenActive);
}

function ready(view) {
  return view.data.figure.layout.dragmode === "lasso" ? `${READY} · lasso to list clips` : READY;
}

function say(view, text, locked = false) {
  view.status.textContent = text;
  view.status.classList.toggle("locked", locked);
}

function pointInfo(point) {
  const [row, preview] = point.customdata || [-1, ""];
  return { row, preview, label: point.text || point.data.name || "" };
}

function play(view, info) {
  const { data, audio } = view;
  if (info.row < 0) {
    say(view, info.label);
    return;
  }
  if (!info.preview) {
    say(view, `${info.label}: preview not ready yet${data.note ? ` (${data.note})` : ""}`);
    return;
  }
  if (!soundAllowed(view)) {
    say(view, LOCKED, true);
    return;
  }
  const url = new URL(data.preview_base + info.preview, document.baseURI).href;
  if (audio.src === url) {
    audio.currentTime = 0;
  } else {
    audio.src = url;
  }
  view.playing = info.label;
  audio.play().then(
    () => say(view, `▶ ${info.label}`),
    (error) => {
      if (error.name === "NotAllowedError") say(view, LOCKED, true);
      // AbortError: the next hover replaced this clip before it started, as it should
    },
  );
}

function bind(view, plot) {
  plot.on("plotly_hover", (event) => play(view, pointInfo(event.points[0])));
  plot.on("plotly_click", (event) => {
    const info = pointInfo(event.points[0]);
    if (info.row >= 0) view.setStateValue("point", info.row);
  });
  plot.on("plotly_selected", (event) => {
    const rows = event ? event.points.map((p) => pointInfo(p).row).filter((row) => row >= 0) : [];
    view.setStateValue("selection", rows);
  });
  plot.on("plotly_deselect", () => view.setStateValue("selection", []));
}

function setup(root) {
  const view = {
    plot: root.querySelector(".ser-scatter-plot"),
    status: root.querySelector(".ser-scatter-status"),
    audio: root.querySelector(".ser-scatter-audio"),
    clicked: false,
    version: null,
    bound: false,
  };
  view.audio.addEventListener("error", () => {
    if (view.audio.getAttribute("src")) say(view, `${view.playing}: preview not available yet`);
  });
  view.audio.addEventListener("ended", () => say(view, ready(view)));
  // The first click anywhere unlocks sound: say so at once, not on the next hover.
  document.addEventListener(
    "pointerdown",
    () => {
      view.clicked = true;
      if (view.status.classList.contains("locked")) say(view, ready(view));
    },
    { capture: true, once: true },
  );
  return view;
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  const root = parentElement.querySelector(".ser-scatter");
  const view = root.__serScatter || (root.__serScatter = setup(root));
  view.data = data;
  view.setStateValue = setStateValue;
  // Unmounted (another page): free the WebGL context; a re-render keeps the same element.
  const cleanup = () =>
    setTimeout(() => {
      if (!root.isConnected && window.Plotly) window.Plotly.purge(view.plot);
    }, 0);
  if (view.version === data.version) return cleanup;
  view.version = data.version;
  view.plot.style.height = `${data.height}px`;

  loadPlotly(data.plotly_url).then(
    (Plotly) => {
      const { data: traces, layout } = data.figure;
      const config = { responsive: true, scrollZoom: true, displaylogo: false };
      return Plotly.react(view.plot, traces, { ...layout, height: data.height }, config).then(() => {
        if (!view.bound) {
          bind(view, view.plot);
          view.bound = true;
        }
        root.dataset.ready = "true"; // tests and benchmarks wait for this
        say(view, soundAllowed(view) ? ready(view) : LOCKED, !soundAllowed(view));
      });
    },
    (error) => say(view, `The map could not be drawn: ${error.message}`),
  );
  return cleanup;
}
