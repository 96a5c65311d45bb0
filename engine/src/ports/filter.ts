/**
 * The filter language every port and stage speaks: the documented nested AND / OR / NOT of
 * `{field, operator, value}` conditions (reference §5). Adapters translate it once into their own language.
 */
export const FILTER_OPERATORS = [
  'eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'contains', 'starts_with', 'ends_with', 'regex',
  'exists', 'is_null', 'text',
] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];

export interface FilterCondition {
  field: string;
  operator?: FilterOperator; // default "eq"
  value?: unknown;
}

export interface LogicalFilter {
  AND?: FilterNode[];
  OR?: FilterNode[];
  /** All listed nodes must be false. The docs also show a single object: accept both. */
  NOT?: FilterNode[] | FilterNode;
  case_sensitive?: boolean;
}

export type FilterNode = FilterCondition | LogicalFilter;
