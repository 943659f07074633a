import { useEffect, useRef, useState } from 'preact/hooks';
import { ruleColour, sideMarkers } from '../geometry.js';
import type { Point } from '../types.js';

export interface Shape {
  rule: string;
  kind: 'polygon' | 'polyline';
  points: Point[];
}

/**
 * Draws one zone (polygon) or line (polyline) on a full-resolution snapshot, in the snapshot's own
 * pixels (the SVG's viewBox is the picture's size, so what is drawn is what the rule gets): a
 * click on the picture adds a point, a point can be dragged, a double click removes it. A line
 * shows which side is `a` and which `b` on every segment; the stream's other rules are drawn faintly.
 */
export function GeometryEditor({ image, width, height, mode, points, others, onChange }: {
  image: string; width: number; height: number; mode: 'polygon' | 'polyline'; points: Point[]; others: Shape[];
  onChange: (points: Point[]) => void;
}): preact.JSX.Element {
  const svg = useRef<SVGSVGElement>(null);
  const [drag, setDrag] = useState<number | null>(null);
  // Screen pixels per picture pixel, so that handles and text keep their size on any screen.
  const [unit, setUnit] = useState(1);
  useEffect(() => {
    const el = svg.current;
    if (!el) return undefined;
    const measure = (): void => setUnit(width / Math.max(1, el.getBoundingClientRect().width));
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, [width]);

  const toPicture = (e: PointerEvent | MouseEvent): Point => {
    const el = svg.current;
    const m = el?.getScreenCTM();
    if (!el || !m) return [0, 0];
    const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(m.inverse());
    const clamp = (v: number, max: number): number => Math.round(Math.min(max, Math.max(0, v)));
    return [clamp(p.x, width), clamp(p.y, height)];
  };

  const onPointerDown = (e: PointerEvent): void => {
    const target = e.target as Element;
    const index = target.getAttribute('data-point');
    if (index !== null) {
      setDrag(Number(index));
      svg.current?.setPointerCapture(e.pointerId);
      e.preventDefault();
      return;
    }
    if (e.button === 0) onChange([...points, toPicture(e)]);
  };
  const onPointerMove = (e: PointerEvent): void => {
    if (drag === null) return;
    const p = toPicture(e);
    onChange(points.map((q, i) => (i === drag ? p : q)));
  };
  const onPointerUp = (e: PointerEvent): void => {
    if (drag === null) return;
    setDrag(null);
    svg.current?.releasePointerCapture(e.pointerId);
  };
  const removePoint = (i: number): void => onChange(points.filter((_, j) => j !== i));

  const stroke = 2 * unit;
  const font = 16 * unit;
  const text = (s: string, at: Point, fill: string): preact.JSX.Element => (
    <text x={at[0]} y={at[1]} font-size={font} fill={fill} stroke="black" stroke-width={unit * 3} paint-order="stroke"
      text-anchor="middle" dominant-baseline="central" pointer-events="none">{s}</text>
  );
  const ptsText = (pts: Point[]): string => pts.map((p) => p.join(',')).join(' ');

  return (
    <svg ref={svg} class="geometry-editor" viewBox={`0 0 ${width} ${height}`} data-mode={mode} data-points={JSON.stringify(points)}
      onPointerDown={onPointerDown} onPointerMove={onPointerMove} onPointerUp={onPointerUp} onContextMenu={(e) => e.preventDefault()}>
      <image href={image} x="0" y="0" width={width} height={height} />
      {others.map((o) => (o.kind === 'polygon'
        ? <polygon points={ptsText(o.points)} fill="none" stroke={ruleColour(o.rule)} stroke-width={stroke} stroke-dasharray={`${6 * unit}`} opacity="0.7" />
        : <polyline points={ptsText(o.points)} fill="none" stroke={ruleColour(o.rule)} stroke-width={stroke} stroke-dasharray={`${6 * unit}`} opacity="0.7" />))}
      {mode === 'polygon' && points.length >= 3 && <polygon points={ptsText(points)} fill="rgba(255,200,0,0.25)" stroke="#ffc800" stroke-width={stroke} />}
      {(mode === 'polyline' || points.length < 3) && points.length >= 2 &&
        <polyline points={ptsText(points)} fill="none" stroke="#ffc800" stroke-width={stroke} />}
      {mode === 'polyline' && sideMarkers(points).map((m) => (
        <g class="side-marker">
          {text('a', [m.mid[0] + m.towardA[0] * font * 1.6, m.mid[1] + m.towardA[1] * font * 1.6], '#7cf')}
          {text('b', [m.mid[0] - m.towardA[0] * font * 1.6, m.mid[1] - m.towardA[1] * font * 1.6], '#fc7')}
        </g>
      ))}
      {points.map((p, i) => (
        <circle data-point={String(i)} cx={p[0]} cy={p[1]} r={7 * unit} fill={i === 0 ? '#fff' : '#ffc800'} stroke="black" stroke-width={unit}
          class="handle" onDblClick={(e) => { e.stopPropagation(); removePoint(i); }} />
      ))}
      {mode === 'polyline' && points.length >= 1 && text('start', [points[0]![0], points[0]![1] - font * 1.2], '#fff')}
    </svg>
  );
}
