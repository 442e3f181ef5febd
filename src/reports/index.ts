// EED reports: the typed result of the pipeline, its markdown rendering and SVG figures (pure
// functions, no GPU), and writing a report folder.
export * from './report.js';
export { checkReport } from './checkReport.js';
export { renderMarkdown, topTeamsBySize, type FigureLinks, type MarkdownOptions } from './markdown.js';
export { accuracyChart } from './accuracyChart.js';
export { dieChart } from './dieChart.js';
export { rdChart } from './rdChart.js';
export { sparsityChart } from './sparsityChart.js';
export { writeReport, renderFigures, REPORT_FILES } from './write.js';
export { percent, compactCount, factor, MISSING } from './format.js';
export { escapeXml } from './svg.js';
