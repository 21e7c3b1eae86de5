/** One benchmark figure: a median over runs, with its unit and the target it is read against. */
export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
  target?: string;
}
