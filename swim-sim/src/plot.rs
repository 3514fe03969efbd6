//! SVG charts of a simulated run: data in, SVG text out.
//!
//! Four charts, each usable alone or stacked in one file by [`report_svg`]:
//!
//! - [`coverage_svg`]: the fraction of nodes that know an update against gossip rounds, measured
//!   curves beside the mean-field epidemic curve of [`epidemic_curve`] (dashed).
//! - [`alive_counts_svg`]: how many members each node sees alive over simulated time; one line per
//!   node for a few nodes, a min / median / max envelope for many.
//! - [`view_error_svg`]: each node's view error against ground truth (members seen alive minus
//!   members really up) from the moment the cluster converged, on a y range fitted to the error,
//!   so that one crash in a thousand nodes shows as a +1 band instead of a one-pixel dip.
//! - [`detection_timeline_svg`]: one row per failure, with markers for the crash, the first
//!   suspicion, the first death declaration and the moment every node declared it dead.
//!
//! The module knows nothing of the simulator: it takes plain numbers, so the CLI and tests can feed it
//! whatever they measured. Drawing is deterministic (same data, same bytes) and uses no font
//! library: the SVG names the generic `sans-serif` family and the viewer renders the text, so the
//! layout reserves room for text from a conservative width estimate rather than measured glyphs.
//!
//! Empty input is an error, not a blank chart: each function returns `Err` with a message that
//! starts with the chart's name and says `no data`. Non-finite values (NaN, infinities) in the input
//! are skipped, never drawn.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One named curve of `(x, y)` points, in the order they should be joined.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The name shown in the legend.
    pub label: String,
    /// The points, `(x, y)`. Points with a NaN or infinite coordinate are skipped.
    pub points: Vec<(f64, f64)>,
}

/// When one failure was noticed, in seconds of simulated time.
///
/// `None` (or a non-finite value) means the milestone was never reached during the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The member that failed, shown as the row's label.
    pub member: String,
    /// When it crashed (ground truth).
    pub crashed_at: f64,
    /// When some node first suspected it.
    pub first_suspect: Option<f64>,
    /// When some node first declared it dead.
    pub first_dead: Option<f64>,
    /// When every live node had declared it dead.
    pub all_dead: Option<f64>,
}

/// The mean-field coverage of push gossip: the expected fraction of `n` nodes that know an update
/// after each round, for rounds `0..=rounds`, starting from one node (`1/n`).
///
/// Each round every informed node pushes the update to `fanout` members picked uniformly among the
/// other `n - 1`. With a fraction `x` informed there are `fanout · x · n` pushes, and one uninformed
/// node escapes each of them with probability `1 - 1/(n-1)`, so
///
/// ```text
/// x[0]   = 1/n
/// x[r+1] = 1 - (1 - x[r]) · (1 - 1/(n-1))^(fanout · x[r] · n)
/// ```
///
/// (computed as `x + (1 - x) · reached` with `reached = -expm1(pushes · ln(1 - 1/(n-1)))`, which
/// is the same value without rounding error when little changes).
///
/// Early on this multiplies the informed fraction by about `1 + fanout` per round; near the end the
/// uninformed fraction shrinks by about `e^-fanout` per round. It is the deterministic mean, not a
/// draw: a real run fluctuates around it. `n = 0` is treated as `n = 1`; with one node the curve is
/// 1 throughout.
pub fn epidemic_curve(n: usize, fanout: usize, rounds: usize) -> Series {
    let n = n.max(1);
    let nf = n as f64;
    // ln(1 - 1/(n-1)); -inf for n = 2, where every push reaches the one other node.
    let ln_miss = if n > 1 {
        (-1.0 / (nf - 1.0)).ln_1p()
    } else {
        f64::NEG_INFINITY
    };
    let mut x = 1.0 / nf;
    let mut points = Vec::with_capacity(rounds + 1);
    points.push((0.0, x));
    for r in 1..=rounds {
        let pushes = fanout as f64 * x * nf;
        // 1 - (1 - 1/(n-1))^pushes, the chance an uninformed node is reached, without cancellation.
        let reached = if pushes > 0.0 && x < 1.0 {
            -(pushes * ln_miss).exp_m1()
        } else {
            0.0
        };
        x = (x + (1.0 - x) * reached).clamp(0.0, 1.0);
        points.push((r as f64, x));
    }
    Series {
        label: format!("theory (n={n}, fanout {fanout})"),
        points,
    }
}

/// Draws the coverage chart: for each measured series the fraction of nodes (0..1) that know an
/// update against gossip rounds, with `theory` (typically from [`epidemic_curve`]) as a dashed
/// black curve.
///
/// Up to 10 measured series get a colour and a legend entry each; more are drawn as thin
/// translucent lines of one colour under a single legend entry. Returns `Err` when no measured
/// series has a finite point.
pub fn coverage_svg(measured: &[Series], theory: &Series, title: &str) -> Result<String, String> {
    let data = CoverageData::new(measured, theory).ok_or("coverage chart: no data")?;
    Panel::Coverage(data).render_alone(title)
}

/// Draws how many members each node sees alive (y) over simulated time in seconds (x).
///
/// With up to 10 series each is its own coloured line. With more, one line per node would be
/// unreadable, so the chart shows the envelope over all series instead: a band from the minimum to
/// the maximum, the median line, and the minimum and maximum lines. At time `t` a series counts
/// with its last sample at or before `t` (counts are step functions); a series with no sample yet
/// does not count. Returns `Err` when no series has a finite point.
pub fn alive_counts_svg(series: &[Series], title: &str) -> Result<String, String> {
    let data = AliveData::new(series).ok_or("alive-count chart: no data")?;
    Panel::Alive(data).render_alone(title)
}

/// Draws each node's view error against ground truth (y) over simulated time in seconds (x).
///
/// Each series holds one node's error at each sample: the members it sees alive minus the members
/// really up at that time, counted the same way (both with or both without the node itself), so
/// that a converged, quiet cluster reads exactly 0. Positive means the node still sees members
/// alive that are down (a crash not yet noticed); negative means it misses members that are up.
///
/// The chart starts at the cluster's convergence: the first sample time at which every series has
/// a sample at or before it and that sample's error is 0 (the join wave before it would swamp the
/// scale). It runs to the last sample, on a y range fitted to the error in that window, at least
/// -1..+1, with integer ticks and a line at 0. Series are drawn as in [`alive_counts_svg`]: a line
/// each for up to 10, the min / median / max envelope for more, and a series counts at time `t`
/// with its last sample at or before `t`.
///
/// Returns `Err` (saying `no data`) when no series has a finite point, or when the cluster never
/// converged, so there is no window to draw.
pub fn view_error_svg(series: &[Series], title: &str) -> Result<String, String> {
    if AliveData::new(series).is_none() {
        return Err("view-error chart: no data".to_string());
    }
    let data = ErrorData::new(series)
        .ok_or("view-error chart: no data after convergence (the cluster never converged)")?;
    Panel::Error(data).render_alone(title)
}

/// Draws one horizontal row per failure, in the given order from the top, with markers for the
/// crash, the first suspicion, the first death declaration and "dead everywhere", and the time from
/// the crash to the last milestone reached written at the end of the row.
///
/// A row whose failure is not yet dead everywhere continues dashed to the right edge. Events with a
/// non-finite `crashed_at` are skipped. Returns `Err` when no event is left.
pub fn detection_timeline_svg(events: &[Detection], title: &str) -> Result<String, String> {
    let data = DetectionData::new(events).ok_or("detection timeline: no data")?;
    Panel::Detection(data).render_alone(title)
}

/// Draws a whole run's report in one SVG: the panels of [`coverage_svg`] (measured, theory),
/// [`alive_counts_svg`], [`view_error_svg`] and [`detection_timeline_svg`] stacked top to bottom
/// under `title`, their plots aligned on one left edge and one legend column.
///
/// Only panels with data are drawn: `coverage` may be `None`, `alive`, `view_error` and
/// `detections` may be empty, and the view-error panel is left out when the cluster never
/// converged. Returns `Err` when no panel has data.
pub fn report_svg(
    coverage: Option<(&[Series], &Series)>,
    alive: &[Series],
    view_error: &[Series],
    detections: &[Detection],
    title: &str,
) -> Result<String, String> {
    report_svg_with_verdicts(coverage, alive, view_error, &[], detections, title)
}

/// [`report_svg`] with one more panel after the view error: for each member
/// some view held dead, the percentage of views holding it dead over
/// simulated time (`dead_share`, y in 0-100; label it with what ground
/// truth says, e.g. "node-7 (2 false deaths)").
pub fn report_svg_with_verdicts(
    coverage: Option<(&[Series], &Series)>,
    alive: &[Series],
    view_error: &[Series],
    dead_share: &[Series],
    detections: &[Detection],
    title: &str,
) -> Result<String, String> {
    let panels: Vec<(Panel, &str)> = [
        coverage
            .and_then(|(m, t)| CoverageData::new(m, t))
            .map(|d| {
                (
                    Panel::Coverage(d),
                    "Spread by gossip round: updates, writes or a dead verdict",
                )
            }),
        AliveData::new(alive).map(|d| (Panel::Alive(d), "Members seen alive by each node")),
        ErrorData::new(view_error).map(|d| (Panel::Error(d), "View error against ground truth")),
        AliveData::new(dead_share)
            .map(|d| (Panel::Dead(d), "Members held dead, by share of views")),
        DetectionData::new(detections).map(|d| (Panel::Detection(d), "Failure detection")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if panels.is_empty() {
        return Err("report: no data for any panel".to_string());
    }
    let frame = Frame {
        legend_w: panels
            .iter()
            .map(|p| p.0.frame().legend_w)
            .max()
            .unwrap_or(0),
        y_label_w: panels
            .iter()
            .map(|p| p.0.frame().y_label_w)
            .max()
            .unwrap_or(0),
    };
    let total = REPORT_TITLE_HEIGHT + panels.iter().map(|p| p.0.height()).sum::<u32>();
    render(WIDTH, total, |root| {
        let (head, mut rest) = root.split_vertically(REPORT_TITLE_HEIGHT);
        draw_title(&head, title, REPORT_TITLE_SIZE)?;
        for (i, (panel, panel_title)) in panels.iter().enumerate() {
            let (area, below) = rest.split_vertically(panel.height());
            if i > 0 {
                // A rule between panels, so one panel's axis title does not read as the next one's.
                let w = WIDTH as i32;
                area.draw(&PathElement::new(
                    vec![(20, 0), (w - 20, 0)],
                    GRID.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?;
            }
            panel.draw(&area, panel_title, frame)?;
            rest = below;
        }
        Ok(())
    })
}

/// One chart's data, ready to draw.
enum Panel {
    Coverage(CoverageData),
    Alive(AliveData),
    Error(ErrorData),
    /// Per member, the percentage of views holding it dead.
    Dead(AliveData),
    Detection(DetectionData),
}

/// Widths that panels stacked in one report share, so their plots line up.
#[derive(Clone, Copy)]
struct Frame {
    /// The legend column on the right.
    legend_w: u32,
    /// The tick labels left of the y axis.
    y_label_w: u32,
}

impl Panel {
    fn legend(&self) -> Vec<(Swatch, String)> {
        match self {
            Panel::Coverage(d) => d.legend(),
            Panel::Alive(d) | Panel::Dead(d) => d.legend(),
            Panel::Error(d) => d.legend(),
            Panel::Detection(d) => d.legend(),
        }
    }

    /// The widths this panel needs on its own.
    fn frame(&self) -> Frame {
        let y_label_w = match self {
            // Tick labels up to "0.9", then the rotated axis title.
            Panel::Coverage(_) => 80,
            // Counts up to four or five digits, signed for the error.
            Panel::Alive(_) | Panel::Error(_) | Panel::Dead(_) => 90,
            // Member names; no axis title.
            Panel::Detection(d) => {
                let names = d.rows.iter().map(|r| text_width(&r.member, TICK_SIZE));
                (names.max().unwrap_or(0) + 24).clamp(60, 300) as u32
            }
        };
        Frame {
            legend_w: legend_width(&self.legend()),
            y_label_w,
        }
    }

    fn height(&self) -> u32 {
        match self {
            Panel::Coverage(_) | Panel::Alive(_) | Panel::Dead(_) => PANEL_HEIGHT,
            Panel::Error(_) => ERROR_PANEL_HEIGHT,
            Panel::Detection(d) => d.height(),
        }
    }

    fn draw(&self, area: &Area, title: &str, frame: Frame) -> Drawn {
        match self {
            Panel::Coverage(d) => d.draw(area, title, frame),
            Panel::Alive(d) => d.draw(area, title, frame),
            Panel::Dead(d) => {
                let axes = Axes {
                    x_desc: "simulated time (s)",
                    y_desc: "% of views holding it dead",
                    y_format: &tick,
                    zero_line: false,
                };
                d.draw_on(area, title, frame, None, &axes, &d.legend())
            }
            Panel::Error(d) => d.draw(area, title, frame),
            Panel::Detection(d) => d.draw(area, title, frame),
        }
    }

    fn render_alone(&self, title: &str) -> Result<String, String> {
        let frame = self.frame();
        render(WIDTH, self.height(), |root| self.draw(root, title, frame))
    }
}

// ---------------------------------------------------------------------------------------------
// Layout constants and shared helpers.

/// Canvas width of every chart, in pixels.
const WIDTH: u32 = 1000;
/// Height of one coverage or alive-count panel.
const PANEL_HEIGHT: u32 = 460;
/// Height of the view-error panel: its range is usually a few units.
const ERROR_PANEL_HEIGHT: u32 = 400;
/// Room under a plot for the x tick labels and the axis title.
const X_LABEL_AREA: u32 = 52;
/// Height of the report's overall title strip.
const REPORT_TITLE_HEIGHT: u32 = 50;
/// More series than this are drawn as an envelope or in one colour.
const MAX_DISTINCT: usize = 10;
/// Envelope grids are thinned to at most this many time points.
const MAX_GRID: usize = 1500;

/// Font sizes as plotters takes them; its SVG backend writes `size / 1.24` px.
const REPORT_TITLE_SIZE: u32 = 30;
const PANEL_TITLE_SIZE: u32 = 25;
const AXIS_DESC_SIZE: u32 = 20;
const TICK_SIZE: u32 = 18;
const LEGEND_SIZE: u32 = 18;
const NOTE_SIZE: u32 = 16;
const FONT: &str = "sans-serif";

/// Colour-blind-friendly Tableau 10 palette, for up to [`MAX_DISTINCT`] distinct series.
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xba, 0xb0, 0xac),
];
const THEORY: RGBColor = RGBColor(0x1a, 0x1a, 0x1a);
const GRID: RGBColor = RGBColor(0xe0, 0xe0, 0xe0);
const MUTED: RGBColor = RGBColor(0x80, 0x80, 0x80);
const ENVELOPE_BAND: RGBColor = RGBColor(0xc6, 0xdb, 0xef);
const ENVELOPE_MAX: RGBColor = RGBColor(0x6b, 0xae, 0xd6);
const ENVELOPE_MEDIAN: RGBColor = RGBColor(0x08, 0x45, 0x94);
const ENVELOPE_MIN: RGBColor = RGBColor(0xd5, 0x5e, 0x00);
const CRASH: RGBColor = RGBColor(0x00, 0x00, 0x00);
const SUSPECT: RGBColor = RGBColor(0xe6, 0x9f, 0x00);
const FIRST_DEAD: RGBColor = RGBColor(0xd6, 0x27, 0x28);
const ALL_DEAD: RGBColor = RGBColor(0x6a, 0x3d, 0x9a);

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Drawn = Result<(), String>;

/// Renders one SVG document of `width × height` pixels on a white background.
fn render(width: u32, height: u32, draw: impl FnOnce(&Area) -> Drawn) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn font(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK)
}

/// Rendered width of `text` at plotters font `size`, erring wide: sans-serif fonts average well
/// under 0.62 em per character.
fn text_width(text: &str, size: u32) -> i32 {
    (text.chars().count() as f64 * size as f64 / 1.24 * 0.62).ceil() as i32
}

/// Cuts `text` to at most `max` characters, marking the cut with an ellipsis.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut t: String = text.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Breaks `text` into lines of at most `max` characters at spaces (a word
/// longer than `max` is cut, as [`truncate`] cuts), for captions in the
/// legend column.
fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let word = truncate(word, max);
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > max {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Draws `text` centred in `area`.
fn draw_title(area: &Area, text: &str, size: u32) -> Drawn {
    let (w, h) = area.dim_in_pixel();
    let style = font(size).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text(text, &style, (w as i32 / 2, h as i32 / 2))
        .map_err(|e| e.to_string())
}

/// Formats an axis tick without trailing zeros: `5`, `0.25`, `1.5`.
fn tick(v: &f64) -> String {
    let s = format!("{:.3}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// The finite points of a series.
fn finite(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect()
}

/// The smallest and largest of `values`, or `None` when there are none.
fn bounds(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// Widens `lo..hi` by `before` and `after` (fractions of its span); a zero span becomes ±1.
fn pad(lo: f64, hi: f64, before: f64, after: f64) -> std::ops::Range<f64> {
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        return lo - 1.0..hi + 1.0;
    }
    let span = hi - lo;
    lo - span * before..hi + span * after
}

/// How a legend entry shows its series.
enum Swatch {
    Line(RGBColor, u32),
    Dashed(RGBColor, u32),
    Band(RGBColor),
    Marker(Marker, RGBColor),
    /// No swatch: the label is a note, written from the swatch's left edge in grey.
    Note,
}

/// The shapes of the detection timeline's markers.
#[derive(Clone, Copy)]
enum Marker {
    Cross,
    Triangle,
    Dot,
    Square,
}

/// Draws `marker` centred at pixel `at` of `area`.
fn draw_marker(area: &Area, marker: Marker, at: (i32, i32), colour: RGBColor) -> Drawn {
    let (x, y) = at;
    let r = match marker {
        Marker::Cross => area.draw(&Cross::new(at, 6, colour.stroke_width(2))),
        Marker::Triangle => area.draw(&TriangleMarker::new(at, 7, colour.filled())),
        Marker::Dot => area.draw(&Circle::new(at, 5, colour.filled())),
        Marker::Square => area.draw(&Rectangle::new(
            [(x - 8, y - 8), (x + 8, y + 8)],
            colour.stroke_width(2),
        )),
    };
    r.map_err(|e| e.to_string())
}

/// Legend column width for these labels.
fn legend_width(entries: &[(Swatch, String)]) -> u32 {
    let text = entries
        .iter()
        .map(|(s, l)| match s {
            Swatch::Note => text_width(l, LEGEND_SIZE) - SWATCH_W - 10,
            _ => text_width(l, LEGEND_SIZE),
        })
        .max()
        .unwrap_or(0);
    (SWATCH_W + 10 + text + 24).clamp(140, 380) as u32
}

const SWATCH_W: i32 = 32;
const LEGEND_MAX_CHARS: usize = 36;

/// Draws the legend entries top-down in `area`, starting level with the plot's top edge.
fn draw_legend(area: &Area, entries: &[(Swatch, String)], top: i32) -> Drawn {
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    let row = 26;
    let x0 = 10;
    for (i, (swatch, label)) in entries.iter().enumerate() {
        let y = top + 12 + row * i as i32;
        let x1 = x0 + SWATCH_W;
        match swatch {
            Swatch::Line(c, w) => area
                .draw(&PathElement::new(
                    vec![(x0, y), (x1, y)],
                    c.stroke_width(*w),
                ))
                .map_err(e)?,
            Swatch::Dashed(c, w) => area
                .draw(&DashedPathElement::new(
                    vec![(x0, y), (x1, y)],
                    7,
                    4,
                    c.stroke_width(*w),
                ))
                .map_err(e)?,
            Swatch::Band(c) => area
                .draw(&Rectangle::new([(x0, y - 7), (x1, y + 7)], c.filled()))
                .map_err(e)?,
            Swatch::Marker(m, c) => draw_marker(area, *m, (x0 + SWATCH_W / 2, y), *c)?,
            Swatch::Note => {
                let style = font(LEGEND_SIZE)
                    .color(&MUTED)
                    .pos(Pos::new(HPos::Left, VPos::Center));
                area.draw_text(label, &style, (x0, y)).map_err(e)?;
                continue;
            }
        }
        let style = font(LEGEND_SIZE).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw_text(label, &style, (x1 + 10, y)).map_err(e)?;
    }
    Ok(())
}

/// The pieces of one panel: a title strip, the plot on the left, the legend column on the right.
struct PanelLayout<'a> {
    plot: Area<'a>,
    legend: Area<'a>,
}

const PANEL_TITLE_HEIGHT: u32 = 40;
/// Blank space kept above the plot (under the title) and so the legend's top offset.
const PLOT_TOP: u32 = 10;

fn panel_layout<'a>(
    area: &Area<'a>,
    title: &str,
    legend_w: u32,
) -> Result<PanelLayout<'a>, String> {
    let (head, body) = area.split_vertically(PANEL_TITLE_HEIGHT);
    draw_title(&head, title, PANEL_TITLE_SIZE)?;
    let (w, _) = body.dim_in_pixel();
    let (plot, legend) = body.split_horizontally(w.saturating_sub(legend_w));
    Ok(PanelLayout { plot, legend })
}

// ---------------------------------------------------------------------------------------------
// Coverage.

struct CoverageData {
    measured: Vec<Series>,
    theory: Series,
    x: std::ops::Range<f64>,
    y_max: f64,
}

impl CoverageData {
    fn new(measured: &[Series], theory: &Series) -> Option<Self> {
        let measured: Vec<Series> = measured
            .iter()
            .map(|s| Series {
                label: s.label.clone(),
                points: finite(&s.points),
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        if measured.is_empty() {
            return None;
        }
        let theory = Series {
            label: theory.label.clone(),
            points: finite(&theory.points),
        };
        let all = || {
            measured
                .iter()
                .chain(std::iter::once(&theory))
                .flat_map(|s| s.points.iter().copied())
        };
        let (x_lo, x_hi) = bounds(all().map(|p| p.0))?;
        let (_, y_hi) = bounds(all().map(|p| p.1))?;
        let x = if x_hi > x_lo {
            x_lo..x_hi
        } else {
            pad(x_lo, x_hi, 0.0, 0.0)
        };
        Some(CoverageData {
            measured,
            theory,
            x,
            y_max: y_hi.max(1.0) * 1.03,
        })
    }

    fn legend(&self) -> Vec<(Swatch, String)> {
        let mut entries = Vec::new();
        if self.measured.len() <= MAX_DISTINCT {
            for (i, s) in self.measured.iter().enumerate() {
                entries.push((
                    Swatch::Line(PALETTE[i], 3),
                    truncate(&s.label, LEGEND_MAX_CHARS),
                ));
            }
        } else {
            entries.push((
                Swatch::Line(PALETTE[0], 2),
                format!("measured ({} series)", self.measured.len()),
            ));
        }
        if !self.theory.points.is_empty() {
            // The model's label is its caption: what it models, in full.
            let mut lines = wrap(&self.theory.label, LEGEND_MAX_CHARS).into_iter();
            if let Some(first) = lines.next() {
                entries.push((Swatch::Dashed(THEORY, 3), first));
            }
            entries.extend(lines.map(|l| (Swatch::Note, l)));
        }
        entries
    }

    fn draw(&self, area: &Area, title: &str, frame: Frame) -> Drawn {
        let e = |e: DrawingAreaErrorKind<_>| e.to_string();
        let legend = self.legend();
        let layout = panel_layout(area, title, frame.legend_w)?;
        let mut chart = ChartBuilder::on(&layout.plot)
            .margin_top(PLOT_TOP)
            .margin_bottom(8)
            .margin_right(10)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(frame.y_label_w)
            .build_cartesian_2d(self.x.clone(), 0.0..self.y_max)
            .map_err(e)?;
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .max_light_lines(0)
            .x_desc("gossip round")
            .y_desc("fraction of nodes informed")
            .axis_desc_style(font(AXIS_DESC_SIZE))
            .label_style(font(TICK_SIZE))
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .draw()
            .map_err(e)?;
        let many = self.measured.len() > MAX_DISTINCT;
        for (i, s) in self.measured.iter().enumerate() {
            let style = if many {
                PALETTE[0].mix(0.35).stroke_width(1)
            } else {
                PALETTE[i].stroke_width(3)
            };
            chart
                .draw_series(std::iter::once(PathElement::new(s.points.clone(), style)))
                .map_err(e)?;
        }
        if !self.theory.points.is_empty() {
            chart
                .draw_series(std::iter::once(DashedPathElement::new(
                    self.theory.points.clone(),
                    9,
                    6,
                    THEORY.stroke_width(3),
                )))
                .map_err(e)?;
        }
        draw_legend(&layout.legend, &legend, PLOT_TOP as i32)
    }
}

// ---------------------------------------------------------------------------------------------
// Alive counts.

/// Min, median and max over many series, on a common grid of x values.
struct Envelope {
    min: Vec<(f64, f64)>,
    median: Vec<(f64, f64)>,
    max: Vec<(f64, f64)>,
}

impl Envelope {
    /// `series` must hold only finite points, each sorted by x.
    fn new(series: &[Vec<(f64, f64)>]) -> Self {
        let mut xs: Vec<f64> = series.iter().flatten().map(|p| p.0).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        if xs.len() > MAX_GRID {
            let step = xs.len() as f64 / MAX_GRID as f64;
            let last = xs[xs.len() - 1];
            xs = (0..MAX_GRID)
                .map(|i| xs[(i as f64 * step) as usize])
                .chain(std::iter::once(last))
                .collect();
            xs.dedup();
        }
        let mut env = Envelope {
            min: Vec::with_capacity(xs.len()),
            median: Vec::with_capacity(xs.len()),
            max: Vec::with_capacity(xs.len()),
        };
        let mut values = Vec::with_capacity(series.len());
        for &x in &xs {
            values.clear();
            for s in series {
                let i = s.partition_point(|p| p.0 <= x);
                if i > 0 {
                    values.push(s[i - 1].1);
                }
            }
            if values.is_empty() {
                continue;
            }
            values.sort_by(f64::total_cmp);
            let n = values.len();
            let median = if n % 2 == 1 {
                values[n / 2]
            } else {
                (values[n / 2 - 1] + values[n / 2]) / 2.0
            };
            env.min.push((x, values[0]));
            env.median.push((x, median));
            env.max.push((x, values[n - 1]));
        }
        env
    }
}

struct AliveData {
    series: Vec<Series>,
    envelope: Option<Envelope>,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
}

/// The series with finite points, each sorted by x; series left without a point are dropped.
fn clean(series: &[Series]) -> Vec<Series> {
    series
        .iter()
        .map(|s| {
            let mut points = finite(&s.points);
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                label: s.label.clone(),
                points,
            }
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

/// The value of a step-function series at `x`: its last point at or before `x`, if any.
fn value_at(points: &[(f64, f64)], x: f64) -> Option<f64> {
    let i = points.partition_point(|p| p.0 <= x);
    i.checked_sub(1).map(|i| points[i].1)
}

/// A linear y axis, with ticks where plotters puts them or at given values.
struct YAxis {
    inner: RangedCoordf64,
    /// Fixed tick positions (no light lines), or `None` for plotters' own.
    ticks: Option<Vec<f64>>,
}

impl Ranged for YAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        match &self.ticks {
            None => self.inner.key_points(hint),
            Some(_) if hint.weight().allow_light_points() => Vec::new(),
            Some(ticks) => ticks.clone(),
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// How a chart of per-node curves labels its axes.
struct Axes<'a> {
    x_desc: &'a str,
    y_desc: &'a str,
    y_format: &'a dyn Fn(&f64) -> String,
    /// Draw a darker horizontal line at y = 0, under the curves.
    zero_line: bool,
}

impl AliveData {
    fn new(series: &[Series]) -> Option<Self> {
        let series = clean(series);
        let all = || series.iter().flat_map(|s| s.points.iter().copied());
        let (x_lo, x_hi) = bounds(all().map(|p| p.0))?;
        let (y_lo, y_hi) = bounds(all().map(|p| p.1))?;
        let envelope = (series.len() > MAX_DISTINCT).then(|| {
            let points: Vec<Vec<(f64, f64)>> = series.iter().map(|s| s.points.clone()).collect();
            Envelope::new(&points)
        });
        let y_pad = ((y_hi - y_lo) * 0.05).max(1.0);
        Some(AliveData {
            series,
            envelope,
            x: if x_hi > x_lo {
                x_lo..x_hi
            } else {
                pad(x_lo, x_hi, 0.0, 0.0)
            },
            y: (y_lo - y_pad).max(0.0_f64.min(y_lo))..y_hi + y_pad,
        })
    }

    fn legend(&self) -> Vec<(Swatch, String)> {
        match &self.envelope {
            Some(_) => vec![
                (
                    Swatch::Line(ENVELOPE_MAX, 2),
                    format!("max of {} nodes", self.series.len()),
                ),
                (Swatch::Line(ENVELOPE_MEDIAN, 3), "median".to_string()),
                (Swatch::Line(ENVELOPE_MIN, 2), "min".to_string()),
                (Swatch::Band(ENVELOPE_BAND), "min to max".to_string()),
            ],
            None => self
                .series
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    (
                        Swatch::Line(PALETTE[i], 3),
                        truncate(&s.label, LEGEND_MAX_CHARS),
                    )
                })
                .collect(),
        }
    }

    fn draw(&self, area: &Area, title: &str, frame: Frame) -> Drawn {
        let axes = Axes {
            x_desc: "simulated time (s)",
            y_desc: "members seen alive",
            y_format: &tick,
            zero_line: false,
        };
        self.draw_on(area, title, frame, None, &axes, &self.legend())
    }

    /// Draws the curves, with y ticks at `y_ticks` if given, else where plotters puts them.
    fn draw_on(
        &self,
        area: &Area,
        title: &str,
        frame: Frame,
        y_ticks: Option<Vec<f64>>,
        axes: &Axes,
        legend: &[(Swatch, String)],
    ) -> Drawn {
        let y = YAxis {
            inner: self.y.clone().into(),
            ticks: y_ticks,
        };
        let e = |e: DrawingAreaErrorKind<_>| e.to_string();
        let layout = panel_layout(area, title, frame.legend_w)?;
        let mut chart = ChartBuilder::on(&layout.plot)
            .margin_top(PLOT_TOP)
            .margin_bottom(8)
            .margin_right(10)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(frame.y_label_w)
            .build_cartesian_2d(self.x.clone(), y)
            .map_err(e)?;
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .max_light_lines(0)
            .x_desc(axes.x_desc)
            .y_desc(axes.y_desc)
            .axis_desc_style(font(AXIS_DESC_SIZE))
            .label_style(font(TICK_SIZE))
            .x_label_formatter(&tick)
            .y_label_formatter(axes.y_format)
            .draw()
            .map_err(e)?;
        if axes.zero_line {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(self.x.start, 0.0), (self.x.end, 0.0)],
                    MUTED.stroke_width(1),
                )))
                .map_err(e)?;
        }
        match &self.envelope {
            Some(env) => {
                let band: Vec<(f64, f64)> = env
                    .max
                    .iter()
                    .copied()
                    .chain(env.min.iter().rev().copied())
                    .collect();
                chart
                    .draw_series(std::iter::once(Polygon::new(band, ENVELOPE_BAND.filled())))
                    .map_err(e)?;
                for (points, colour, width) in [
                    (&env.max, ENVELOPE_MAX, 2),
                    (&env.min, ENVELOPE_MIN, 2),
                    (&env.median, ENVELOPE_MEDIAN, 3),
                ] {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            points.clone(),
                            colour.stroke_width(width),
                        )))
                        .map_err(e)?;
                }
            }
            None => {
                for (i, s) in self.series.iter().enumerate() {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            s.points.clone(),
                            PALETTE[i].stroke_width(3),
                        )))
                        .map_err(e)?;
                }
            }
        }
        draw_legend(&layout.legend, legend, PLOT_TOP as i32)
    }
}

// ---------------------------------------------------------------------------------------------
// View error.

/// The view-error curves from convergence on, with a fitted integer y axis.
struct ErrorData {
    /// The curves, cut to start at `converged_at`.
    lines: AliveData,
    /// The first sample time at which every series read 0.
    converged_at: f64,
    /// The y tick positions: integers, including 0, -1 and +1.
    ticks: Vec<f64>,
}

/// At most this many y ticks on the view-error axis.
const ERROR_MAX_TICKS: usize = 9;

impl ErrorData {
    /// `None` when no series has a finite point or the series never all read 0 at once.
    fn new(series: &[Series]) -> Option<Self> {
        let series = clean(series);
        let converged_at = converged_at(&series)?;
        // Each series from its value at the convergence time (0) to its end.
        let window: Vec<Series> = series
            .iter()
            .map(|s| {
                let from = s.points.partition_point(|p| p.0 <= converged_at);
                let mut points = Vec::with_capacity(s.points.len() - from + 1);
                points.push((converged_at, s.points[from - 1].1));
                points.extend_from_slice(&s.points[from..]);
                Series {
                    label: s.label.clone(),
                    points,
                }
            })
            .collect();
        let mut lines = AliveData::new(&window)?;
        let (lo, hi) = bounds(window.iter().flat_map(|s| s.points.iter().map(|p| p.1)))?;
        let (lo, hi) = (lo.floor().min(-1.0), hi.ceil().max(1.0));
        let ticks = integer_ticks(lo, hi, ERROR_MAX_TICKS);
        let pad = (hi - lo) * 0.08;
        lines.y = lo - pad..hi + pad;
        Some(ErrorData {
            lines,
            converged_at,
            ticks,
        })
    }

    fn legend(&self) -> Vec<(Swatch, String)> {
        let mut entries = self.lines.legend();
        entries.push((Swatch::Note, "+n: n down, seen alive".to_string()));
        entries.push((Swatch::Note, "\u{2212}n: n up, not seen alive".to_string()));
        entries
    }

    fn draw(&self, area: &Area, title: &str, frame: Frame) -> Drawn {
        let x_desc = format!(
            "simulated time (s), from convergence at {} s",
            tick(&self.converged_at)
        );
        let axes = Axes {
            x_desc: &x_desc,
            y_desc: "seen alive \u{2212} really up",
            y_format: &signed_tick,
            zero_line: true,
        };
        let ticks = Some(self.ticks.clone());
        self.lines
            .draw_on(area, title, frame, ticks, &axes, &self.legend())
    }
}

/// The first x at which every series has a point at or before it, and that point's y is 0.
/// `series` must be as [`clean`] leaves it.
fn converged_at(series: &[Series]) -> Option<f64> {
    let started = bounds(series.iter().map(|s| s.points[0].0))?.1;
    let mut xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .filter(|&x| x >= started)
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    xs.into_iter()
        .find(|&x| series.iter().all(|s| value_at(&s.points, x) == Some(0.0)))
}

/// Tick positions for an integer axis over `lo..=hi`: every multiple of the smallest step of
/// 1, 2 or 5 times a power of ten that gives at most `max` ticks.
fn integer_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    let max = max.max(2) as f64;
    let mut step = 1.0;
    'search: loop {
        for m in [1.0, 2.0, 5.0] {
            if ((hi / (m * step)).floor() - (lo / (m * step)).ceil() + 1.0) <= max {
                step *= m;
                break 'search;
            }
        }
        step *= 10.0;
    }
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// [`tick`] with a `+` on positive values.
fn signed_tick(v: &f64) -> String {
    let s = tick(v);
    if *v > 0.0 && s != "0" {
        format!("+{s}")
    } else {
        s.replace('-', "\u{2212}")
    }
}

// ---------------------------------------------------------------------------------------------
// Detection timeline.

/// One row of the timeline, with non-finite milestones dropped.
struct Row {
    member: String,
    crashed_at: f64,
    first_suspect: Option<f64>,
    first_dead: Option<f64>,
    all_dead: Option<f64>,
}

impl Row {
    fn last(&self) -> f64 {
        [self.first_suspect, self.first_dead, self.all_dead]
            .into_iter()
            .flatten()
            .fold(self.crashed_at, f64::max)
    }
}

struct DetectionData {
    rows: Vec<Row>,
    x: std::ops::Range<f64>,
}

/// Height of one timeline row in pixels, and the most rows that get their own height.
const ROW_HEIGHT: u32 = 34;
const MAX_TALL_ROWS: u32 = 40;
const MEMBER_MAX_CHARS: usize = 24;

impl DetectionData {
    fn new(events: &[Detection]) -> Option<Self> {
        let keep = |t: Option<f64>| t.filter(|v| v.is_finite());
        let rows: Vec<Row> = events
            .iter()
            .filter(|d| d.crashed_at.is_finite())
            .map(|d| Row {
                member: truncate(&d.member, MEMBER_MAX_CHARS),
                crashed_at: d.crashed_at,
                first_suspect: keep(d.first_suspect),
                first_dead: keep(d.first_dead),
                all_dead: keep(d.all_dead),
            })
            .collect();
        let lo = bounds(rows.iter().map(|r| r.crashed_at))?.0;
        let hi = bounds(rows.iter().map(Row::last))?.1;
        // Room on the right for the "+N s" note after the last marker.
        Some(DetectionData {
            rows,
            x: pad(lo, hi, 0.05, 0.18),
        })
    }

    fn height(&self) -> u32 {
        let rows = (self.rows.len() as u32).min(MAX_TALL_ROWS);
        (PANEL_TITLE_HEIGHT + PLOT_TOP + 70 + ROW_HEIGHT * (rows + 1)).max(300)
    }

    fn legend(&self) -> Vec<(Swatch, String)> {
        let mut entries = vec![
            (Swatch::Marker(Marker::Cross, CRASH), "crash".to_string()),
            (
                Swatch::Marker(Marker::Triangle, SUSPECT),
                "first suspected".to_string(),
            ),
            (
                Swatch::Marker(Marker::Dot, FIRST_DEAD),
                "first declared dead".to_string(),
            ),
            (
                Swatch::Marker(Marker::Square, ALL_DEAD),
                "dead everywhere".to_string(),
            ),
        ];
        if self.rows.iter().any(|r| r.all_dead.is_none()) {
            entries.push((
                Swatch::Dashed(MUTED, 2),
                "not dead everywhere yet".to_string(),
            ));
        }
        entries
    }

    fn draw(&self, area: &Area, title: &str, frame: Frame) -> Drawn {
        let e = |e: DrawingAreaErrorKind<_>| e.to_string();
        let legend = self.legend();
        let layout = panel_layout(area, title, frame.legend_w)?;
        let n = self.rows.len() as i32;
        let names = |v: &i32| -> String {
            usize::try_from(n - 1 - *v)
                .ok()
                .and_then(|i| self.rows.get(i))
                .map(|r| r.member.clone())
                .unwrap_or_default()
        };
        let mut chart = ChartBuilder::on(&layout.plot)
            .margin_top(PLOT_TOP)
            .margin_bottom(8)
            .margin_right(10)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(frame.y_label_w)
            .build_cartesian_2d(self.x.clone(), -1..n)
            .map_err(e)?;
        let (_, plot_h) = chart.plotting_area().dim_in_pixel();
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .x_max_light_lines(0)
            // Never 0 on an integer axis: plotters 0.3.7 overflows computing zero key points.
            .y_max_light_lines(1)
            .disable_y_mesh()
            .x_desc("simulated time (s);  +N s: from the crash to dead everywhere")
            .axis_desc_style(font(AXIS_DESC_SIZE))
            .label_style(font(TICK_SIZE))
            .x_label_formatter(&tick)
            .y_label_formatter(&names)
            .y_labels(((plot_h / 22) as usize).clamp(2, n as usize + 2))
            .draw()
            .map_err(e)?;
        let x_end = self.x.end;
        let plot = chart.plotting_area();
        let screen = plot.use_screen_coord();
        for (i, r) in self.rows.iter().enumerate() {
            let y = n - 1 - i as i32;
            let last = r.last();
            plot.draw(&PathElement::new(
                vec![(r.crashed_at, y), (last, y)],
                MUTED.stroke_width(2),
            ))
            .map_err(e)?;
            if r.all_dead.is_none() {
                plot.draw(&DashedPathElement::new(
                    vec![(last, y), (x_end, y)],
                    7,
                    4,
                    MUTED.stroke_width(2),
                ))
                .map_err(e)?;
            }
            // Largest first, so a marker that coincides with a later one stays visible.
            let milestones = [
                (r.all_dead, Marker::Square, ALL_DEAD),
                (r.first_dead, Marker::Dot, FIRST_DEAD),
                (r.first_suspect, Marker::Triangle, SUSPECT),
            ];
            for (t, marker, colour) in milestones {
                if let Some(t) = t {
                    draw_marker(&screen, marker, chart.backend_coord(&(t, y)), colour)?;
                }
            }
            draw_marker(
                &screen,
                Marker::Cross,
                chart.backend_coord(&(r.crashed_at, y)),
                CRASH,
            )?;
            if last > r.crashed_at && r.all_dead.is_some() {
                let style = font(NOTE_SIZE).pos(Pos::new(HPos::Left, VPos::Center));
                let note = format!("+{} s", tick(&(last - r.crashed_at)));
                plot.draw(&(EmptyElement::at((last, y)) + Text::new(note, (14, 0), style)))
                    .map_err(e)?;
            }
        }
        draw_legend(&layout.legend, &legend, PLOT_TOP as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(label: &str, points: &[(f64, f64)]) -> Series {
        Series {
            label: label.to_string(),
            points: points.to_vec(),
        }
    }

    /// Every number in a coordinate attribute parses as a finite float.
    fn assert_well_formed(svg: &str) {
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(!svg.contains("NaN"));
        for attr in [
            "points=\"",
            " x=\"",
            " y=\"",
            "cx=\"",
            "cy=\"",
            " r=\"",
            "width=\"",
            "height=\"",
        ] {
            for part in svg.split(attr).skip(1) {
                let value = &part[..part.find('"').unwrap()];
                for n in value.split([' ', ',']).filter(|s| !s.is_empty()) {
                    let v: f64 = n.parse().unwrap_or_else(|_| panic!("{attr}{value}"));
                    assert!(v.is_finite(), "{attr}{value}");
                }
            }
        }
    }

    /// How many `<tag` elements are stroked or filled with `colour`.
    fn count(svg: &str, tag: &str, colour: RGBColor) -> usize {
        let hex = format!("#{:02X}{:02X}{:02X}", colour.0, colour.1, colour.2);
        svg.split('<')
            .filter(|el| el.starts_with(tag) && el.contains(&hex))
            .count()
    }

    #[test]
    fn epidemic_curve_is_monotone_and_converges_in_log_rounds() {
        for n in [100usize, 1000, 10000] {
            let fanout = 3;
            let bound = (n as f64).ln() / (1.0 + fanout as f64).ln()
                + (n as f64).ln() / fanout as f64
                + 2.0;
            let curve = epidemic_curve(n, fanout, 40);
            assert_eq!(curve.points.len(), 41);
            assert_eq!(curve.points[0], (0.0, 1.0 / n as f64));
            for w in curve.points.windows(2) {
                assert!(w[1].1 >= w[0].1, "n={n}: {:?}", w);
                assert!(w[1].1 <= 1.0);
            }
            let reached = curve
                .points
                .iter()
                .find(|p| p.1 > 0.99)
                .map(|p| p.0)
                .unwrap();
            assert!(reached <= bound, "n={n}: {reached} > {bound}");
        }
    }

    #[test]
    fn epidemic_curve_edge_cases() {
        assert_eq!(
            epidemic_curve(0, 3, 2).points,
            vec![(0.0, 1.0), (1.0, 1.0), (2.0, 1.0)]
        );
        assert_eq!(epidemic_curve(1, 3, 1).points, vec![(0.0, 1.0), (1.0, 1.0)]);
        assert_eq!(epidemic_curve(2, 1, 1).points, vec![(0.0, 0.5), (1.0, 1.0)]);
        assert!(epidemic_curve(50, 0, 3).points.iter().all(|p| p.1 == 0.02));
    }

    #[test]
    fn coverage_chart_has_one_curve_per_series_and_a_legend() {
        let measured = [
            series(
                "update A",
                &[(0.0, 0.01), (1.0, 0.04), (2.0, 0.2), (3.0, 0.7), (4.0, 1.0)],
            ),
            series(
                "update B",
                &[
                    (0.0, 0.01),
                    (1.0, 0.03),
                    (2.0, f64::NAN),
                    (3.0, 0.6),
                    (4.0, 0.98),
                ],
            ),
        ];
        let theory = epidemic_curve(100, 3, 6);
        let svg = coverage_svg(&measured, &theory, "Coverage, n=100").unwrap();
        assert_well_formed(&svg);
        for text in [
            "Coverage, n=100",
            "update A",
            "update B",
            "theory (n=100, fanout 3)",
            "gossip round",
            "fraction of nodes informed",
        ] {
            assert!(svg.contains(text), "missing {text}");
        }
        // The curve and its legend swatch.
        assert_eq!(count(&svg, "polyline", PALETTE[0]), 2);
        assert_eq!(count(&svg, "polyline", PALETTE[1]), 2);
        // Dashes: several for the curve, a few for the swatch.
        assert!(count(&svg, "polyline", THEORY) > 6);
    }

    #[test]
    fn coverage_chart_folds_many_series_into_one_legend_entry() {
        let measured: Vec<Series> = (0..25)
            .map(|i| {
                series(
                    &format!("u{i}"),
                    &[(0.0, 0.0), (1.0, 0.5), (2.0 + i as f64 / 25.0, 1.0)],
                )
            })
            .collect();
        let svg = coverage_svg(&measured, &Series::default(), "many").unwrap();
        assert_well_formed(&svg);
        assert!(svg.contains("measured (25 series)"));
        assert!(!svg.contains(">\nu3\n<"));
        assert_eq!(count(&svg, "polyline", PALETTE[0]), 26);
        assert_eq!(count(&svg, "polyline", THEORY), 0);
    }

    #[test]
    fn alive_chart_draws_a_line_per_node_for_few_nodes() {
        let nodes: Vec<Series> = (0..3)
            .map(|i| {
                series(
                    &format!("node-{i}"),
                    &[(0.0, 1.0), (2.0, 3.0 - i as f64 * 0.5), (10.0, 3.0)],
                )
            })
            .collect();
        let svg = alive_counts_svg(&nodes, "Alive").unwrap();
        assert_well_formed(&svg);
        for text in [
            "Alive",
            "node-0",
            "node-2",
            "simulated time (s)",
            "members seen alive",
        ] {
            assert!(svg.contains(text), "missing {text}");
        }
        for c in &PALETTE[..3] {
            assert_eq!(count(&svg, "polyline", *c), 2);
        }
        assert_eq!(count(&svg, "polygon", ENVELOPE_BAND), 0);
    }

    #[test]
    fn alive_chart_draws_an_envelope_for_many_nodes() {
        let nodes: Vec<Series> = (0..200)
            .map(|i| {
                let points = (0..=60)
                    .map(|t| {
                        let up = (t as f64 * 10.0).min(200.0);
                        let dip = if t > 30 && t < 30 + i % 7 { 1.0 } else { 0.0 };
                        (t as f64 + i as f64 * 1e-3, up - dip)
                    })
                    .collect::<Vec<_>>();
                series(&format!("node-{i}"), &points)
            })
            .collect();
        let svg = alive_counts_svg(&nodes, "Alive, 200 nodes").unwrap();
        assert_well_formed(&svg);
        assert!(svg.contains("max of 200 nodes"));
        assert!(svg.contains("median"));
        assert!(!svg.contains("node-17"));
        assert_eq!(count(&svg, "polygon", ENVELOPE_BAND), 1);
        // The curve and its legend swatch, for each of min, median and max.
        for c in [ENVELOPE_MIN, ENVELOPE_MEDIAN, ENVELOPE_MAX] {
            assert_eq!(count(&svg, "polyline", c), 2);
        }
    }

    #[test]
    fn envelope_uses_the_last_sample_at_or_before_each_time() {
        let env = Envelope::new(&[
            vec![(0.0, 1.0), (2.0, 5.0)],
            vec![(1.0, 3.0)],
            vec![(0.0, 2.0), (1.0, 4.0), (2.0, 0.0)],
        ]);
        assert_eq!(env.min, vec![(0.0, 1.0), (1.0, 1.0), (2.0, 0.0)]);
        assert_eq!(env.median, vec![(0.0, 1.5), (1.0, 3.0), (2.0, 3.0)]);
        assert_eq!(env.max, vec![(0.0, 2.0), (1.0, 4.0), (2.0, 5.0)]);
    }

    fn detections() -> Vec<Detection> {
        vec![
            Detection {
                member: "node-7".into(),
                crashed_at: 15.0,
                first_suspect: Some(16.2),
                first_dead: Some(21.3),
                all_dead: Some(23.9),
            },
            Detection {
                member: "node-42".into(),
                crashed_at: 30.0,
                first_suspect: Some(31.0),
                first_dead: None,
                all_dead: None,
            },
            Detection {
                member: "ignored".into(),
                crashed_at: f64::NAN,
                first_suspect: None,
                first_dead: None,
                all_dead: None,
            },
        ]
    }

    #[test]
    fn detection_timeline_has_a_row_and_markers_per_failure() {
        let svg = detection_timeline_svg(&detections(), "Detection").unwrap();
        assert_well_formed(&svg);
        for text in [
            "Detection",
            "node-7",
            "node-42",
            "crash",
            "first suspected",
            "first declared dead",
            "dead everywhere",
            "not dead everywhere yet",
            "+8.9 s",
        ] {
            assert!(svg.contains(text), "missing {text}");
        }
        assert!(!svg.contains("ignored"));
        // One first-dead dot in the chart, one in the legend.
        assert_eq!(count(&svg, "circle", FIRST_DEAD), 2);
        // One dead-everywhere square in the chart, one in the legend.
        assert_eq!(count(&svg, "rect", ALL_DEAD), 2);
        // Two suspicion triangles and a legend one.
        assert_eq!(count(&svg, "polygon", SUSPECT), 3);
    }

    #[test]
    fn report_stacks_only_the_panels_with_data() {
        let measured = [series("update A", &[(0.0, 0.01), (3.0, 1.0)])];
        let theory = epidemic_curve(100, 3, 6);
        let alive = [series("node-0", &[(0.0, 1.0), (5.0, 100.0)])];
        let full = report_svg(
            Some((&measured, &theory)),
            &alive,
            &[],
            &detections(),
            "Run seed 1",
        )
        .unwrap();
        assert_well_formed(&full);
        for text in [
            "Run seed 1",
            "Spread by gossip round",
            "Members seen alive by each node",
            "Failure detection",
        ] {
            assert!(full.contains(text), "missing {text}");
        }
        let partial = report_svg(None, &alive, &[], &[], "Run seed 2").unwrap();
        assert_well_formed(&partial);
        assert!(partial.contains("Members seen alive by each node"));
        assert!(!partial.contains("Spread by gossip round"));
        assert!(!partial.contains("Failure detection"));
        let height = |svg: &str| -> u32 {
            let h = svg.split("height=\"").nth(1).unwrap();
            h[..h.find('"').unwrap()].parse().unwrap()
        };
        assert!(height(&full) > 2 * height(&partial));
    }

    #[test]
    fn empty_input_is_an_error_that_says_no_data() {
        let theory = epidemic_curve(10, 3, 4);
        let empty = [series("nothing", &[]), series("nan", &[(f64::NAN, 1.0)])];
        for r in [
            coverage_svg(&[], &theory, "t"),
            coverage_svg(&empty, &theory, "t"),
            alive_counts_svg(&[], "t"),
            alive_counts_svg(&empty, "t"),
            detection_timeline_svg(&[], "t"),
            view_error_svg(&[], "t"),
            view_error_svg(&empty, "t"),
            report_svg(Some((&empty, &theory)), &[], &empty, &[], "t"),
        ] {
            let err = r.unwrap_err();
            assert!(err.contains("no data"), "{err}");
        }
    }

    /// View errors of `nodes` nodes sampled every 0.5 s for 20 s: a join wave (node `i` starts at
    /// `i / nodes` s and misses members until 2 s), converged at 2 s, then a crash at 10 s that
    /// node `i` notices `i % 4` samples after the first. `never` nodes miss a member throughout.
    fn errors(nodes: usize, never: usize) -> Vec<Series> {
        (0..nodes)
            .map(|i| {
                let start = i as f64 / nodes as f64;
                let points = (0..=40)
                    .map(|k| k as f64 * 0.5)
                    .filter(|&t| t >= start)
                    .map(|t| {
                        let e = if i < never {
                            -1.0
                        } else if t < 2.0 {
                            -((2.0 - t) * 3.0).ceil()
                        } else if (10.0..=10.5 + (i % 4) as f64 * 0.5).contains(&t) {
                            1.0
                        } else {
                            0.0
                        };
                        (t, e)
                    })
                    .collect::<Vec<_>>();
                series(&format!("node-{i}"), &points)
            })
            .collect()
    }

    #[test]
    fn view_error_window_starts_at_convergence() {
        for nodes in [3, 40] {
            let d = ErrorData::new(&errors(nodes, 0)).unwrap();
            assert_eq!(d.converged_at, 2.0, "{nodes} nodes");
            assert_eq!(d.lines.x, 2.0..20.0);
            for s in &d.lines.series {
                assert_eq!(s.points[0], (2.0, 0.0), "{}", s.label);
                assert!(s.points.iter().all(|p| p.0 >= 2.0 && p.1 >= 0.0));
            }
            assert_eq!(d.lines.envelope.is_some(), nodes > MAX_DISTINCT);
        }
    }

    #[test]
    fn view_error_convergence_waits_for_every_series_to_start() {
        // At 0 s only node-0 has a sample, and it reads 0: not converged yet.
        let s = [
            series("node-0", &[(0.0, 0.0), (1.0, -1.0), (2.0, 0.0), (3.0, 0.0)]),
            series("node-1", &[(1.0, -1.0), (2.0, 0.0), (3.0, 0.0)]),
        ];
        assert_eq!(ErrorData::new(&s).unwrap().converged_at, 2.0);
        // A series that starts late: converged once it has a zero sample, the others stay 0.
        let s = [
            series("node-0", &[(0.0, 0.0), (1.0, 0.0), (2.0, 0.0)]),
            series("node-1", &[(1.5, 0.0), (2.0, 0.0)]),
        ];
        let d = ErrorData::new(&s).unwrap();
        assert_eq!(d.converged_at, 1.5);
        assert_eq!(d.lines.series[0].points, vec![(1.5, 0.0), (2.0, 0.0)]);
    }

    #[test]
    fn view_error_range_fits_the_window_and_includes_minus_one_to_plus_one() {
        // Only 0 and +1 after convergence, though the join wave went down to -6.
        let d = ErrorData::new(&errors(40, 0)).unwrap();
        assert_eq!(d.ticks, vec![-1.0, 0.0, 1.0]);
        assert!(
            d.lines.y.start < -1.0 && d.lines.y.start > -1.5,
            "{:?}",
            d.lines.y
        );
        assert!(
            d.lines.y.end > 1.0 && d.lines.y.end < 1.5,
            "{:?}",
            d.lines.y
        );
        // All zero: still -1..+1.
        let flat = [series("a", &[(0.0, 0.0), (5.0, 0.0)])];
        let d = ErrorData::new(&flat).unwrap();
        assert_eq!(d.ticks, vec![-1.0, 0.0, 1.0]);
        assert!(d.lines.y.start < -1.0 && d.lines.y.end > 1.0);
        // A partition after convergence: the range reaches the data, ticks stay integers.
        let split = [
            series("a", &[(0.0, 0.0), (1.0, -26.0), (2.0, 3.0), (3.0, 0.0)]),
            series("b", &[(0.0, 0.0), (1.0, -14.0), (2.0, 0.0)]),
        ];
        let d = ErrorData::new(&split).unwrap();
        assert!(
            d.lines.y.start < -26.0 && d.lines.y.end > 3.0,
            "{:?}",
            d.lines.y
        );
        assert!(d.ticks.len() <= ERROR_MAX_TICKS && d.ticks.contains(&0.0));
        assert!(d.ticks.iter().all(|t| t.fract() == 0.0), "{:?}", d.ticks);
    }

    #[test]
    fn integer_ticks_use_round_steps() {
        assert_eq!(integer_ticks(-1.0, 1.0, 9), vec![-1.0, 0.0, 1.0]);
        assert_eq!(
            integer_ticks(-3.0, 1.0, 9),
            vec![-3.0, -2.0, -1.0, 0.0, 1.0]
        );
        assert_eq!(
            integer_ticks(-12.0, 1.0, 9),
            vec![-12.0, -10.0, -8.0, -6.0, -4.0, -2.0, 0.0]
        );
        assert_eq!(
            integer_ticks(-26.0, 1.0, 9),
            vec![-25.0, -20.0, -15.0, -10.0, -5.0, 0.0]
        );
        assert_eq!(
            integer_ticks(-1.0, 999.0, 9),
            vec![0.0, 200.0, 400.0, 600.0, 800.0]
        );
        assert_eq!(signed_tick(&1.0), "+1");
        assert_eq!(signed_tick(&0.0), "0");
        assert_eq!(signed_tick(&-5.0), "\u{2212}5");
    }

    #[test]
    fn a_caption_wraps_at_spaces_within_the_legend_width() {
        let lines = wrap("model: rounds in step, three pushes per informed node", 20);
        assert_eq!(
            lines,
            [
                "model: rounds in",
                "step, three pushes",
                "per informed node"
            ]
        );
        assert!(lines.iter().all(|l| l.chars().count() <= 20));
        assert_eq!(wrap("", 20), [""]);
        assert_eq!(wrap("averyveryverylongword x", 8), ["averyve…", "x"]);
    }

    #[test]
    fn view_error_is_absent_when_the_cluster_never_converged() {
        let never = errors(40, 1);
        assert!(ErrorData::new(&never).is_none());
        let err = view_error_svg(&never, "t").unwrap_err();
        assert!(
            err.contains("no data") && err.contains("never converged"),
            "{err}"
        );
        let alive = [series("node-0", &[(0.0, 1.0), (5.0, 100.0)])];
        let svg = report_svg(None, &alive, &never, &detections(), "Run").unwrap();
        assert_well_formed(&svg);
        assert!(svg.contains("Members seen alive by each node"));
        assert!(!svg.contains("View error"));
        assert!(svg.contains("Failure detection"));
    }

    #[test]
    fn view_error_chart_draws_the_title_axis_and_envelope() {
        let svg = view_error_svg(&errors(40, 0), "Errors, 40 nodes").unwrap();
        assert_well_formed(&svg);
        for text in [
            "Errors, 40 nodes",
            "seen alive \u{2212} really up",
            "from convergence at 2 s",
            "max of 40 nodes",
            "+n: n down, seen alive",
            ">\n+1\n<",
            ">\n\u{2212}1\n<",
        ] {
            assert!(svg.contains(text), "missing {text}");
        }
        assert_eq!(count(&svg, "polygon", ENVELOPE_BAND), 1);
        let few = view_error_svg(&errors(3, 0), "few").unwrap();
        assert_well_formed(&few);
        assert!(few.contains("node-2"));
        assert_eq!(count(&few, "polygon", ENVELOPE_BAND), 0);
        for c in &PALETTE[..3] {
            assert_eq!(count(&few, "polyline", *c), 2);
        }
    }

    #[test]
    fn report_places_the_view_error_panel_between_alive_and_detection() {
        let alive = [series("node-0", &[(0.0, 1.0), (5.0, 100.0)])];
        let svg = report_svg(None, &alive, &errors(40, 0), &detections(), "Run").unwrap();
        assert_well_formed(&svg);
        let at = |t: &str| svg.find(t).unwrap_or_else(|| panic!("missing {t}"));
        assert!(at("Members seen alive by each node") < at("View error against ground truth"));
        assert!(at("View error against ground truth") < at("Failure detection"));
    }

    #[test]
    fn single_points_and_labels_with_markup_still_draw() {
        let one = [series("a <b> & c", &[(3.0, 0.5)])];
        let svg = coverage_svg(&one, &Series::default(), "x & y").unwrap();
        assert_well_formed(&svg);
        assert!(svg.contains("a &lt;b&gt; &amp; c"));
        let svg = alive_counts_svg(&one, "t").unwrap();
        assert_well_formed(&svg);
        let d = [Detection {
            member: "n".into(),
            crashed_at: 1.0,
            first_suspect: None,
            first_dead: None,
            all_dead: None,
        }];
        assert_well_formed(&detection_timeline_svg(&d, "t").unwrap());
        let zero = [series("a <b>", &[(3.0, 0.0)])];
        let svg = view_error_svg(&zero, "t").unwrap();
        assert_well_formed(&svg);
        assert!(svg.contains("a &lt;b&gt;"));
    }
}
