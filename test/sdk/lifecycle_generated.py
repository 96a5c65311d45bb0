"""The lifecycle through the SDK's generated client (mixpeek.Configuration, mixpeek.ApiClient and the *Api classes
with their pydantic request models), written against the SDK's documented usage: Bearer auth in
Configuration.access_token, the namespace in Configuration.api_key['NamespaceHeader'] (sent as X-Namespace)."""

import urllib3

import mixpeek
from sdk_report import NOTES, PREFIX, TEXT_FX, URI, URL, API_KEY, Report

R = Report("generated")
ns_name = f"{PREFIX}-gen"


def status_of(x):
    s = getattr(x, "status", None)
    return str(getattr(s, "value", s) or "").upper()


config = mixpeek.Configuration(host=URL, access_token=API_KEY)
client = mixpeek.ApiClient(config)
namespaces = mixpeek.NamespacesApi(client)
buckets = mixpeek.BucketsApi(client)
objects = mixpeek.BucketObjectsApi(client)
uploads = mixpeek.BucketUploadsApi(client)
bucket_batches = mixpeek.BucketBatchesApi(client)
batches = mixpeek.BatchesApi(client)
collections = mixpeek.CollectionsApi(client)
documents = mixpeek.CollectionDocumentsApi(client)
tasks = mixpeek.TasksApi(client)
retrievers = mixpeek.RetrieversApi(client)
adhoc = mixpeek.AdhocRetrieversApi(client)
stages_api = mixpeek.RetrieverStagesApi(client)
interactions = mixpeek.RetrieverInteractionsApi(client)
taxonomies = mixpeek.TaxonomiesApi(client)

# --- namespaces ---------------------------------------------------------------------------------------------------
ns = R.call("namespaces.create_namespace", lambda: namespaces.create_namespace(mixpeek.CreateNamespaceRequest(
    namespace_name=ns_name, description="SDK lifecycle", feature_extractors=[mixpeek.BaseFeatureExtractorModelInput(**TEXT_FX)])),
    check=lambda r: None if r.namespace_id else "no namespace_id")
ns_id = ns.namespace_id if ns else None
config.api_key["NamespaceHeader"] = ns_id or ns_name
R.call("namespaces.get_namespace", lambda: namespaces.get_namespace(ns_id), needs=[ns_id],
       check=lambda r: None if r.namespace_name == ns_name else f"namespace_name {r.namespace_name}")
R.call("namespaces.list_namespaces", lambda: namespaces.list_namespaces(),
       check=lambda r: None if any(n.namespace_id == ns_id for n in r.results) else "created namespace not listed")
R.call("namespaces.list_namespaces_get", lambda: namespaces.list_namespaces_get(),
       check=lambda r: None if any(n.namespace_id == ns_id for n in r.results) else "created namespace not listed")
R.call("namespaces.patch_namespace", lambda: namespaces.patch_namespace(ns_id, mixpeek.PatchNamespaceRequest(description="patched")), needs=[ns_id],
       check=lambda r: None if r.description == "patched" else f"description {r.description}")

# --- buckets ------------------------------------------------------------------------------------------------------
schema = mixpeek.BucketSchemaInput(properties={
    "body": mixpeek.BucketSchemaFieldInput(type="text", required=True),
    "category": mixpeek.BucketSchemaFieldInput(type="string"),
})
bkt = R.call("buckets.create_bucket", lambda: buckets.create_bucket(mixpeek.BucketCreateRequest(bucket_name="notes", description="notes", bucket_schema=schema)),
             needs=[ns_id], check=lambda r: None if r.bucket_id else "no bucket_id")
bkt_id = bkt.bucket_id if bkt else None
R.call("buckets.get_bucket", lambda: buckets.get_bucket(bkt_id), needs=[bkt_id])
R.call("buckets.list_buckets", lambda: buckets.list_buckets(), needs=[bkt_id],
       check=lambda r: None if any(b.bucket_id == bkt_id for b in r.results) else "bucket not listed")
R.call("buckets.list_buckets_get", lambda: buckets.list_buckets_get(), needs=[bkt_id],
       check=lambda r: None if any(b.bucket_id == bkt_id for b in r.results) else "bucket not listed")
R.call("buckets.patch_bucket", lambda: buckets.patch_bucket(bkt_id, mixpeek.BucketPatchRequest(description="patched notes")), needs=[bkt_id])

# --- objects (created right after the bucket: it must be usable at once) ------------------------------------------
obj_ids = []
for i, (text, category) in enumerate(NOTES):
    o = R.call(f"objects.create_object_buckets[{i}]", lambda text=text, category=category: objects.create_object_buckets(bkt_id, mixpeek.CreateObjectRequest.from_dict(
        {"blobs": [{"property": "body", "type": "text", "data": text}], "metadata": {"category": category}})),
        needs=[bkt_id], check=lambda r: None if r.object_id else "no object_id")
    if o:
        obj_ids.append(o.object_id)
first_obj = obj_ids[0] if obj_ids else None
R.call("objects.get_object_buckets", lambda: objects.get_object_buckets(bkt_id, first_obj), needs=[first_obj])
R.call("objects.list_objects_buckets", lambda: objects.list_objects_buckets(bkt_id), needs=[bkt_id],
       check=lambda r: None if len(r.results) >= len(obj_ids) else f"{len(r.results)} objects listed")
R.call("objects.list_objects_get_buckets", lambda: objects.list_objects_get_buckets(bkt_id), needs=[bkt_id])

# --- presigned uploads --------------------------------------------------------------------------------------------
up = R.call("uploads.create_upload_buckets", lambda: uploads.create_upload_buckets(bkt_id, mixpeek.CreateUploadRequest(
    filename="violin.txt", content_type="text/plain", blob_property="body", object_metadata={"category": "music"})),
    needs=[bkt_id], check=lambda r: None if r.presigned_url else "no presigned_url")
up_id = up.upload_id if up else None
payload = b"A violin bow needs rosin so the hair can grip the strings."
R.call("uploads.PUT presigned_url", lambda: (lambda resp: None if resp.status < 300 else (_ for _ in ()).throw(RuntimeError(f"PUT {resp.status} {resp.data[:200]}")))(
    urllib3.request("PUT", up.presigned_url, body=payload, headers={"Content-Type": "text/plain"})), needs=[up_id])
conf = R.call("uploads.confirm_upload_buckets", lambda: uploads.confirm_upload_buckets(bkt_id, up_id, confirm_upload_request=mixpeek.ConfirmUploadRequest(file_size_bytes=len(payload))),
              needs=[up_id])
R.call("uploads.get_upload_buckets", lambda: uploads.get_upload_buckets(bkt_id, up_id), needs=[up_id])
R.call("uploads.list_uploads_buckets", lambda: uploads.list_uploads_buckets(bkt_id), needs=[up_id])

# --- collections --------------------------------------------------------------------------------------------------
fx = mixpeek.SharedCollectionFeaturesExtractorsModelsFeatureExtractorConfigInput(
    **TEXT_FX, input_mappings=mixpeek.InputMappings({"text": "body"}), field_passthrough=[mixpeek.FieldPassthrough(source_path="metadata.category")])
col = R.call("collections.create_collection", lambda: collections.create_collection(mixpeek.CreateCollectionRequest(
    collection_name="notes-text", source=mixpeek.SourceConfigInput(type="bucket", bucket_ids=[bkt_id]), feature_extractor=fx)),
    needs=[bkt_id], check=lambda r: None if r.collection_id else "no collection_id")
col_id = col.collection_id if col else None
R.call("collections.get_collection", lambda: collections.get_collection(col_id), needs=[col_id])
R.call("collections.list_collections", lambda: collections.list_collections(), needs=[col_id],
       check=lambda r: None if any(c.collection_id == col_id for c in r.results) else "collection not listed")
R.call("collections.list_collections_get", lambda: collections.list_collections_get(), needs=[col_id])
R.call("collections.describe_collection_features", lambda: collections.describe_collection_features(col_id), needs=[col_id],
       check=lambda r: None if r.features and r.features[0].feature_uri == URI and r.features[0].vector_index.dimensions else f"features {str(r)[:300]}")
R.call("collections.update_collection", lambda: collections.update_collection(col_id, {"description": "notes, embedded"}), needs=[col_id])

# --- batches and polling ------------------------------------------------------------------------------------------
batch = R.call("bucket_batches.create_batch_buckets_batches", lambda: bucket_batches.create_batch_buckets_batches(bkt_id, mixpeek.CreateBatchRequest(
    object_ids=obj_ids, collection_ids=[col_id])), needs=[col_id, first_obj], check=lambda r: None if r.batch_id else "no batch_id")
batch_id = batch.batch_id if batch else None
sub = R.call("bucket_batches.submit_batch_buckets_batches", lambda: bucket_batches.submit_batch_buckets_batches(bkt_id, batch_id), needs=[batch_id],
             check=lambda r: None if r.task_id else "no task_id")
R.poll("bucket_batches.get_batch_buckets_batches (poll until COMPLETED)", lambda: bucket_batches.get_batch_buckets_batches(bkt_id, batch_id),
       lambda b: status_of(b) in ("COMPLETED", "FAILED"), needs=[sub])
R.call("bucket_batches.list_batches_buckets", lambda: bucket_batches.list_batches_buckets(bkt_id), needs=[batch_id],
       check=lambda r: None if any(b.batch_id == batch_id for b in r.results) else "batch not listed")
R.call("bucket_batches.get_batch_audit_buckets_batches", lambda: bucket_batches.get_batch_audit_buckets_batches(bkt_id, batch_id), needs=[batch_id])
R.call("batches.get_batch_by_id_batches", lambda: batches.get_batch_by_id_batches(batch_id), needs=[batch_id],
       check=lambda r: None if r.batch_id == batch_id else f"batch {r.batch_id}")
R.call("batches.list_all_batches", lambda: batches.list_all_batches(), needs=[batch_id],
       check=lambda r: None if any(b.batch_id == batch_id for b in r.results) else "batch not listed")

# --- trigger and tasks --------------------------------------------------------------------------------------------
trig = R.call("collections.trigger_collection", lambda: collections.trigger_collection(col_id), needs=[col_id],
              check=lambda r: None if r.task_id else "no task_id")
task_id = trig.task_id if trig else None
R.poll("tasks.get_task (poll until COMPLETED)", lambda: tasks.get_task(task_id), lambda t: status_of(t) in ("COMPLETED", "FAILED"), needs=[task_id])
R.call("tasks.list_tasks", lambda: tasks.list_tasks(), needs=[task_id])

# --- documents ----------------------------------------------------------------------------------------------------
expected_docs = len(obj_ids) + (1 if conf else 0)
docs = R.poll("documents.list_documents (until every object has its document)", lambda: documents.list_documents(col_id), lambda r: len(r.results or []) >= expected_docs, needs=[col_id], timeout=120)
doc_id = docs.results[0].document_id if docs else None
R.call("documents.list_documents_0 (GET)", lambda: documents.list_documents_0(col_id), needs=[col_id])
R.call("documents.get_document", lambda: documents.get_document(col_id, doc_id), needs=[doc_id],
       check=lambda d: None if d.collection_id == col_id else f"collection_id {d.collection_id} is not {col_id}")

# --- retrievers ---------------------------------------------------------------------------------------------------
search_stage = mixpeek.StageConfigInput(stage_name="search", stage_type="filter", config={
    "stage_id": "feature_search",
    "parameters": {"searches": [{"feature_uri": URI, "query": {"input_mode": "text", "value": "{{INPUT.query}}"}, "top_k": 10}], "final_top_k": 3},
})
input_schema = {"query": mixpeek.RetrieverInputSchemaFieldInput(type="text", required=True)}
ret = R.call("retrievers.create_retriever", lambda: retrievers.create_retriever(mixpeek.CreateRetrieverRequest(
    retriever_name="notes-search", collection_identifiers=[col_id], input_schema=input_schema, stages=[search_stage])),
    needs=[col_id], check=lambda r: None if r.retriever_id else "no retriever_id")
ret_id = ret.retriever_id if ret else None
R.call("retrievers.get_retriever", lambda: retrievers.get_retriever(ret_id), needs=[ret_id])
R.call("retrievers.list_retrievers", lambda: retrievers.list_retrievers(), needs=[ret_id])
R.call("retrievers.list_retrievers_get", lambda: retrievers.list_retrievers_get(), needs=[ret_id])
R.call("retriever_stages.list_stages_retrievers", lambda: stages_api.list_stages_retrievers())
exe = R.call("retrievers.execute_retriever", lambda: retrievers.execute_retriever(ret_id, mixpeek.ExecuteRetrieverRequest(inputs={"query": "how do I repair a puncture"})),
             needs=[ret_id], check=lambda r: None if r.documents and r.documents[0].get("category") == "bike" else f"top document {str(r.documents[:1])[:300]}")
R.call("retrievers.explain_retriever_execution_id_execute", lambda: retrievers.explain_retriever_execution_id_execute(ret_id, mixpeek.ExplainRetrieverRequest(inputs={"query": "coffee"})), needs=[ret_id])
R.call("retrievers.execute_batch_retrievers", lambda: retrievers.execute_batch_retrievers(ret_id, mixpeek.ExecuteBatchRequest(
    queries=[mixpeek.BatchQueryItem(inputs={"query": "coffee"}), mixpeek.BatchQueryItem(inputs={"query": "tomatoes"})])), needs=[ret_id])
R.call("adhoc.execute_adhoc_retriever", lambda: adhoc.execute_adhoc_retriever(mixpeek.AdhocExecuteRequest(
    collection_identifiers=[col_id], input_schema=input_schema, stages=[search_stage], inputs={"query": "garden"})), needs=[col_id])
R.call("retrievers.patch_retriever", lambda: retrievers.patch_retriever(ret_id, mixpeek.PatchRetrieverRequest(description="patched")), needs=[ret_id])

# --- taxonomies ---------------------------------------------------------------------------------------------------
tax = R.call("taxonomies.create_taxonomy_taxonomies", lambda: taxonomies.create_taxonomy_taxonomies(mixpeek.CreateTaxonomyRequest(
    taxonomy_name="note-topics", config=mixpeek.Config1(mixpeek.FlatTaxonomyConfigInput(
        retriever_id=ret_id, input_mappings=[mixpeek.InputMapping(input_key="query", source_type="payload", path="text")],
        source_collection=mixpeek.SourceCollectionInput(collection_id=col_id))))), needs=[ret_id], check=lambda r: None if r.taxonomy_id else "no taxonomy_id")
tax_id = tax.taxonomy_id if tax else None
R.call("taxonomies.get_taxonomy_taxonomies", lambda: taxonomies.get_taxonomy_taxonomies(tax_id), needs=[tax_id])
R.call("taxonomies.list_taxonomies (GET)", lambda: taxonomies.list_taxonomies(), needs=[tax_id])
R.call("taxonomies.list_taxonomies_0 (POST)", lambda: taxonomies.list_taxonomies_0(), needs=[tax_id])
R.call("taxonomies.execute_taxonomy_taxonomies_0", lambda: taxonomies.execute_taxonomy_taxonomies_0(tax_id, mixpeek.Payload1({
    "source_documents": [{"document_id": "sample-1", "text": "my bike tyre went flat"}]})), needs=[tax_id],
    check=lambda r: None if r.matches and r.results and r.results[0].get("category") == "bike" and r.stats.processed_docs == 1 else f"unexpected {str(r)[:400]}")

# --- interactions -------------------------------------------------------------------------------------------------
top = exe.documents[0] if exe and exe.documents else None
ix = R.call("interactions.create_interaction_retrievers", lambda: interactions.create_interaction_retrievers(mixpeek.SearchInteraction(
    feature_id=top["document_id"], interaction_type=["click"], position=0, retriever_id=ret_id, execution_id=exe.execution_id, user_id="u1")),
    needs=[top], check=lambda r: None if r.interaction_id else "no interaction_id")
ix_id = ix.interaction_id if ix else None
R.call("interactions.list_interactions_retrievers", lambda: interactions.list_interactions_retrievers(), needs=[ix_id])
R.call("interactions.get_interaction_retrievers", lambda: interactions.get_interaction_retrievers(ix_id), needs=[ix_id])
R.call("interactions.create_interactions_bulk_retrievers_batch", lambda: interactions.create_interactions_bulk_retrievers_batch(mixpeek.BulkInteractionsRequest(
    interactions=[mixpeek.SearchInteraction(feature_id=top["document_id"], interaction_type=["purchase"], position=0, retriever_id=ret_id, user_id="u2")])), needs=[top])
R.call("interactions.delete_interaction_retrievers", lambda: interactions.delete_interaction_retrievers(ix_id), needs=[ix_id])

# --- deletion -----------------------------------------------------------------------------------------------------
R.call("documents.delete_document", lambda: documents.delete_document(col_id, doc_id), needs=[doc_id])
R.call("objects.delete_object_buckets", lambda: objects.delete_object_buckets(bkt_id, first_obj), needs=[first_obj])
R.call("taxonomies.delete_taxonomy_taxonomies", lambda: taxonomies.delete_taxonomy_taxonomies(tax_id), needs=[tax_id])
R.call("retrievers.delete_retriever", lambda: retrievers.delete_retriever(ret_id), needs=[ret_id])
R.call("collections.delete_collection", lambda: collections.delete_collection(col_id), needs=[col_id])
R.call("buckets.delete_bucket", lambda: buckets.delete_bucket(bkt_id), needs=[bkt_id])
R.call("namespaces.delete_namespace", lambda: namespaces.delete_namespace(ns_id), needs=[ns_id])
R.emit()
