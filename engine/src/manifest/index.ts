/**
 * Manifests: parse (Quarry CR YAML or the Mixpeek manifest format), convert, validate/plan, diff, export — pure
 * functions usable offline (CLI) — plus apply through the ResourceStore port and the HTTP routes.
 */
export { parseDocuments, parseManifest, type ManifestFormat, type ParsedManifest } from './parse.ts';
export {
  EXTRACTOR_ALIASES,
  SOURCE_NAME_ANNOTATION,
  convertMixpeekManifest,
  isMixpeekManifest,
  manifestLabelValue,
  toMixpeekManifest,
  toObjectName,
  type ConvertOptions,
  type ConvertedManifest,
  type ManifestIssue,
  type ManifestResource,
} from './mixpeek.ts';
export {
  KIND_ORDER,
  MANIFEST_LABEL,
  RESOURCE_TYPE,
  diffResult,
  exportManifest,
  fieldChanges,
  planManifest,
  planProblems,
  toManifestResource,
  type Action,
  type ExportOptions,
  type FieldChange,
  type ManifestPlan,
  type PlanOptions,
  type PruneItem,
  type ResourcePlan,
} from './plan.ts';
export { applyPlan, listLive, type ApplyResult, type ResourceResult, type ResourceStatus } from './apply.ts';
export { registerManifestRoutes, type ManifestRouteDeps } from './http.ts';
