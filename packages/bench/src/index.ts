export { runBench, type BenchResults, type LoadFigure, type LoadRun, type QueueFigure } from './bench.js';
export { parseOptions, SCENARIOS, type BenchOptions, type ScenarioName } from './options.js';
export { checkTargets, compareRuns, figuresOf, renderDoc, type Figure, type TargetCheck } from './report.js';
export { summariseProfile, type CpuProfile, type ProfileSummary } from './profile.js';
export { percentiles, median, type Percentiles } from './stats.js';
