/** Mixpeek-format manifests used by the manifest tests. */

/** The example of reference §6.1, verbatim except the `[...]` elisions (taxonomies, clusters, retrievers). */
export const REFERENCE_EXAMPLE = `version: "1.0"                  # manifest schema version
metadata:
  name: "video-search-env"
namespaces:
  - name: video_search
    feature_extractors:
      - name: multimodal_extractor   # note: 'name', not 'feature_extractor_name'
        version: v1
buckets:
  - name: raw_videos
    namespace: video_search        # reference by NAME
    schema:                        # note: 'schema', not 'bucket_schema'
      properties:
        video: { type: video }
    sync:
      connection_id: \${{ secrets.S3_CONNECTION_ID }}
collections:
  - name: video_index
    namespace: video_search
`;

/**
 * A fuller manifest in the SDK create-request shapes (reference §1, §12.1): text extraction, a retriever with
 * nested stages, a flat taxonomy, plus the variants §11 lists (feature_extractors array, {properties} input
 * schema, flat stage form, a mixpeek:// feature URI naming another model).
 */
export const DOCS_SEARCH = `version: "1.0"
metadata:
  name: docs-search
namespaces:
  - name: docs_ns
    description: Documentation search
    feature_extractors:
      - feature_extractor_name: text_extractor
        version: v1
        params: { embedding_model: all_minilm_l6_v2 }
    payload_indexes:
      - { field_name: category, type: keyword }
buckets:
  - name: docs
    namespace: docs_ns
    bucket_schema:
      properties:
        body: { type: text, required: true }
        category: { type: string }
    unique_key: { fields: [body], default_policy: upsert }
  - name: labels
    namespace: docs_ns
    schema:
      properties:
        label: { type: text, required: true }
collections:
  - name: docs_text
    namespace: docs_ns
    source: { type: bucket, bucket_ids: [docs] }
    feature_extractor:
      feature_extractor_name: text_extractor
      version: v1
      params: { embedding_model: all_minilm_l6_v2 }
      input_mappings: { text: body }
      field_passthrough: [{ source_path: category }]
      parameters: { extractor_type: text_extractor, split_by: sentences, chunk_size: 3 }
  - name: label_text
    namespace: docs_ns
    source: { type: bucket, bucket_ids: [labels] }
    feature_extractors:
      - feature_extractor_name: text_extractor
        version: v1
        input_mappings: { text: label }
retrievers:
  - name: docs_search
    namespace: docs_ns
    description: Search the docs
    collection_identifiers: [docs_text]
    input_schema:
      query: { type: text, required: true }
    stages:
      - stage_name: search
        stage_type: filter
        config:
          stage_id: feature_search
          parameters:
            searches:
              - feature_uri: mixpeek://text_extractor@v1/multilingual_e5_large_instruct_v1
                query: { input_mode: text, value: "{{INPUT.query}}" }
                top_k: 100
            final_top_k: 20
      - stage_type: reduce
        stage_id: limit
        stage_name: top
        parameters: { limit: 5 }
    cache_config: { enabled: true, ttl_seconds: 600 }
    tags: [docs]
  - name: label_match
    namespace: docs_ns
    collection_identifiers: [label_text]
    input_schema:
      properties:
        text: { type: text, required: true }
    stages:
      - stage_name: search
        config:
          stage_id: feature_search
          parameters:
            searches:
              - feature_uri: quarry://text_extractor@v1/all_minilm_l6_v2
                query: { input_mode: text, value: "{{INPUT.text}}" }
                top_k: 10
            final_top_k: 1
taxonomies:
  - name: doc_labels
    namespace: docs_ns
    description: Label docs by their nearest label
    config:
      taxonomy_type: flat
      retriever_id: label_match
      input_mappings:
        - { input_key: text, source_type: payload, path: text }
      source_collection:
        collection_id: label_text
        enrichment_fields:
          - { field_path: label, target_field: doc_label }
`;
