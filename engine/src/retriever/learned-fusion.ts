/**
 * `fusion: learned` of feature_search (reference §4.1 learning_config, §7.4 interactions): the stage's searches are
 * the arms of a Beta-Bernoulli bandit whose evidence is the namespace's interaction records
 * (POST /v1/retrievers/interactions, the SDK's RetrieverInteractionsApi).
 *
 * - Evidence: the interactions of this retriever (retriever_id its id or name; an anonymous retriever: those naming
 *   none) whose interaction_type includes a reward signal (learning_config.reward_signal, a comma list).
 * - Credit: each rewarded interaction on document d is one trial for every arm, and arm a's success is how high a
 *   ranks d for the query being fused, 1/(1 + rank) — 1 at the top, 0 when a does not retrieve d — so the search that
 *   puts the documents users reward first earns the weight. (Fractional Beta updates; the prior is prior_alpha/beta.)
 * - Context: with context_features naming INPUT.user_id, the requesting user's interactions are used when there are
 *   at least min_interactions of them; else (fallback_strategy hierarchical, or global) every user's.
 * - Weights: thompson_sampling draws each arm's weight from Beta(α, β); ucb takes the mean plus
 *   exploration_bonus·√(ln N / n) scaled by the mean's spread; epsilon_greedy takes the means, and equal weights with
 *   probability 0.1·exploration_bonus. The lists are then fused by weighted RRF, Σ wₐ / (k + rankₐ).
 * - Below min_interactions rewarded interactions: cold start, equal weights (plain RRF), and the metadata says so.
 */
import jstat from 'jstat';
import type { ScoredPoint } from '../ports/vector-store.ts';

export interface LearningConfig {
  algorithm: 'thompson_sampling' | 'epsilon_greedy' | 'ucb';
  context_features: string[];
  fallback_strategy: 'hierarchical' | 'global';
  min_interactions: number;
  reward_signal: string;
  exploration_bonus: number;
  prior_alpha: number;
  prior_beta: number;
}

export interface LearnedWeights {
  /** One weight per list, in the lists' order. */
  weights: number[];
  /** 'learned' when interactions set the weights; 'rrf' for a cold start. */
  method: 'learned' | 'rrf';
  scope: 'personal' | 'global' | 'none';
  /** Rewarded interactions used. */
  interactions: number;
  /** Posterior per list: α, β. */
  posteriors: { alpha: number; beta: number }[];
  reason?: string;
}

type Interaction = Record<string, unknown>;

const DEFAULTS: LearningConfig = { algorithm: 'thompson_sampling', context_features: [], fallback_strategy: 'hierarchical', min_interactions: 5, reward_signal: 'click', exploration_bonus: 1, prior_alpha: 1, prior_beta: 1 };

export function learningConfig(raw: Record<string, unknown> | undefined): LearningConfig {
  return { ...DEFAULTS, ...(raw ?? {}) } as LearningConfig;
}

/** The interactions that count for this retriever and reward signal. */
export function rewardedInteractions(all: Interaction[], retriever: { id?: string | undefined; name?: string | undefined }, config: LearningConfig): Interaction[] {
  const rewards = new Set(config.reward_signal.split(',').map((s) => s.trim()).filter(Boolean));
  const named = [retriever.id, retriever.name].filter((x): x is string => !!x);
  return all.filter((x) => {
    const types = Array.isArray(x.interaction_type) ? (x.interaction_type as unknown[]) : [];
    if (!types.some((t) => typeof t === 'string' && rewards.has(t))) return false;
    const rid = typeof x.retriever_id === 'string' ? x.retriever_id : undefined;
    return named.length > 0 ? rid !== undefined && named.includes(rid) : rid === undefined;
  });
}

/** The user the request is about, when the context features name INPUT.user_id (any case). */
function requestUser(config: LearningConfig, inputs: Record<string, unknown>): string | undefined {
  const wantsUser = config.context_features.some((f) => f.toLowerCase() === 'input.user_id' || f.toLowerCase() === 'user_id');
  const u = inputs.user_id;
  return wantsUser && typeof u === 'string' && u ? u : undefined;
}

/** The arms' weights for these ranked lists (see the module comment). `random` is for tests. */
export function learnedWeights(lists: ScoredPoint[][], rewarded: Interaction[], config: LearningConfig, inputs: Record<string, unknown>, random: () => number = Math.random): LearnedWeights {
  const equal = lists.map(() => 1);
  const prior = lists.map(() => ({ alpha: config.prior_alpha, beta: config.prior_beta }));
  const user = requestUser(config, inputs);
  const personal = user ? rewarded.filter((x) => x.user_id === user) : [];
  // Both fallback strategies end at the global evidence (Quarry keeps no demographic features to step through).
  const [used, scope]: [Interaction[], LearnedWeights['scope']] = personal.length >= config.min_interactions ? [personal, 'personal'] : [rewarded, 'global'];
  if (used.length < config.min_interactions) {
    return { weights: equal, method: 'rrf', scope: 'none', interactions: used.length, posteriors: prior, reason: `cold start: ${used.length} rewarded interactions, fewer than learning_config.min_interactions (${config.min_interactions})` };
  }
  const ranks = lists.map((hits) => new Map(hits.map((h, i) => [h.id, i])));
  const posteriors = lists.map((_, a) => {
    let alpha = config.prior_alpha;
    let beta = config.prior_beta;
    for (const x of used) {
      const rank = ranks[a]!.get(String(x.feature_id));
      const credit = rank === undefined ? 0 : 1 / (1 + rank);
      alpha += credit;
      beta += 1 - credit;
    }
    return { alpha, beta };
  });
  const mean = (p: { alpha: number; beta: number }) => p.alpha / (p.alpha + p.beta);
  let weights: number[];
  if (config.algorithm === 'ucb') {
    const n = used.length;
    weights = posteriors.map((p) => mean(p) + config.exploration_bonus * Math.sqrt(Math.log(n + 1) / (p.alpha + p.beta)) * Math.sqrt(mean(p) * (1 - mean(p))));
  } else if (config.algorithm === 'epsilon_greedy') {
    weights = random() < Math.min(1, 0.1 * config.exploration_bonus) ? equal : posteriors.map(mean);
  } else {
    weights = posteriors.map((p) => jstat.beta.sample(p.alpha, p.beta));
  }
  return { weights, method: 'learned', scope, interactions: used.length, posteriors };
}

/** Weighted RRF: Σ wₐ / (k + rank), rank 1-based; ties keep the first-seen order. */
export function weightedRrf(lists: ScoredPoint[][], weights: number[], k: number): ScoredPoint[] {
  const byId = new Map<string, { p: ScoredPoint; score: number; first: number }>();
  let order = 0;
  lists.forEach((hits, a) =>
    hits.forEach((h, i) => {
      const s = (weights[a] ?? 1) / (k + i + 1);
      const cur = byId.get(h.id);
      if (cur) cur.score += s;
      else byId.set(h.id, { p: h, score: s, first: order++ });
    }),
  );
  return [...byId.values()].sort((a, b) => b.score - a.score || a.first - b.first).map((x) => ({ ...x.p, score: x.score }));
}
