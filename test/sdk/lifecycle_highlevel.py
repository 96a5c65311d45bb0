"""The lifecycle through the SDK's high-level client, `mixpeek.Mixpeek(api_key, namespace=…, base_url=…)`, written
against its documented methods (namespaces, buckets, collections, documents, retrievers, tasks, batches)."""

from mixpeek import Mixpeek
from sdk_report import NOTES, PREFIX, TEXT_FX, URI, URL, API_KEY, Report

R = Report("high-level")
ns_name = f"{PREFIX}-hl"
admin = Mixpeek(API_KEY, base_url=f"{URL}/v1")

ns = R.call("namespaces.create", lambda: admin.namespaces.create(name=ns_name, feature_extractors=[TEXT_FX]), check=lambda r: None if r.get("namespace_id") else "no namespace_id")
ns_id = ns["namespace_id"] if ns else None
R.call("namespaces.get", lambda: admin.namespaces.get(ns_id), needs=[ns_id])
R.call("namespaces.list", lambda: admin.namespaces.list(), check=lambda r: None if any(n["namespace_id"] == ns_id for n in r["results"]) else "not listed")

mp = Mixpeek(API_KEY, namespace=ns_id or ns_name, base_url=f"{URL}/v1")
bkt = R.call("buckets.create", lambda: mp.buckets.create(bucket_name="notes", bucket_schema={"properties": {"body": {"type": "text", "required": True}, "category": {"type": "string"}}}),
             needs=[ns_id], check=lambda r: None if r.get("bucket_id") else "no bucket_id")
bkt_id = bkt["bucket_id"] if bkt else None
R.call("buckets.get", lambda: mp.buckets.get(bkt_id), needs=[bkt_id])
R.call("buckets.list", lambda: mp.buckets.list(), needs=[bkt_id])
obj_ids = []
for i, (text, category) in enumerate(NOTES):
    o = R.call(f"buckets.upload[{i}]", lambda text=text, category=category: mp.buckets.upload(bkt_id, data=text, metadata={"category": category}), needs=[bkt_id],
               check=lambda r: None if r.get("object_id") else "no object_id")
    if o:
        obj_ids.append(o["object_id"])
R.call("buckets.list_objects", lambda: mp.buckets.list_objects(bkt_id), needs=[bkt_id], check=lambda r: None if len(r["results"]) == len(obj_ids) else f"{len(r['results'])} objects")

col = R.call("collections.create", lambda: mp.collections.create(collection_name="notes-text", source={"type": "bucket", "bucket_ids": [bkt_id]},
             feature_extractor={**TEXT_FX, "input_mappings": {"text": "body"}, "field_passthrough": [{"source_path": "metadata.category"}]}),
             needs=[bkt_id], check=lambda r: None if r.get("collection_id") else "no collection_id")
col_id = col["collection_id"] if col else None
R.call("collections.get", lambda: mp.collections.get(col_id), needs=[col_id])
R.call("collections.list", lambda: mp.collections.list(), needs=[col_id])
R.call("collections.update", lambda: mp.collections.update(col_id, description="notes, embedded"), needs=[col_id])
trig = R.call("collections.trigger", lambda: mp.collections.trigger(col_id), needs=[col_id], check=lambda r: None if r.get("task_id") else "no task_id")
task_id = trig["task_id"] if trig else None
R.poll("tasks.get (poll until COMPLETED)", lambda: mp.tasks.get(task_id), lambda t: t["status"] in ("COMPLETED", "FAILED"), needs=[task_id])
R.call("tasks.list", lambda: mp.tasks.list(), needs=[task_id])
batch_id = trig.get("batch_id") if trig else None
R.call("batches.get", lambda: mp.batches.get(bkt_id, batch_id), needs=[batch_id])
R.call("batches.audit", lambda: mp.batches.audit(bkt_id, batch_id), needs=[batch_id])

docs = R.poll("documents.list", lambda: mp.documents.list(col_id, page_size=10), lambda r: len(r["results"]) >= len(obj_ids), needs=[col_id], timeout=120)
doc_id = docs["results"][0]["document_id"] if docs else None
R.call("documents.get", lambda: mp.documents.get(col_id, doc_id), needs=[doc_id])

stage = {"stage_name": "search", "stage_type": "filter", "config": {"stage_id": "feature_search", "parameters": {
    "searches": [{"feature_uri": URI, "query": {"input_mode": "text", "value": "{{INPUT.query}}"}, "top_k": 10}], "final_top_k": 3}}}
ret = R.call("retrievers.create", lambda: mp.retrievers.create(retriever_name="notes-search", stages=[stage], collection_identifiers=[col_id],
             input_schema={"query": {"type": "text", "required": True}}), needs=[col_id], check=lambda r: None if r.get("retriever_id") else f"no retriever_id in {str(r)[:200]}")
ret_id = ret["retriever_id"] if ret else None
R.call("retrievers.get", lambda: mp.retrievers.get(ret_id), needs=[ret_id])
R.call("retrievers.list", lambda: mp.retrievers.list(), needs=[ret_id], check=lambda r: None if any(x["retriever_id"] == ret_id for x in r["results"]) else "not listed")
R.call("retrievers.update", lambda: mp.retrievers.update(ret_id, description="patched"), needs=[ret_id])
exe = R.call("retrievers.execute", lambda: mp.retrievers.execute(ret_id, inputs={"query": "how do I repair a puncture"}), needs=[ret_id],
             check=lambda r: None if r["documents"] and r["documents"][0].get("category") == "bike" else f"top {str(r['documents'][:1])[:200]}")
R.call("retrievers.execute_batch", lambda: mp.retrievers.execute_batch(ret_id, queries=[{"query": "coffee"}, {"query": "tomatoes"}]), needs=[ret_id])
ix = R.call("retrievers.create_interaction_from_result", lambda: mp.retrievers.create_interaction_from_result(exe, position=0, retriever_id=ret_id, user_id="u1"),
            needs=[exe], check=lambda r: None if r.get("interaction_id") else "no interaction_id")
ix_id = ix["interaction_id"] if ix else None
R.call("retrievers.list_interactions", lambda: mp.retrievers.list_interactions(ret_id), needs=[ix_id], check=lambda r: None if r["results"] else "none listed")
R.call("retrievers.get_interaction", lambda: mp.retrievers.get_interaction(ix_id), needs=[ix_id])
R.call("retrievers.backfill_interactions", lambda: mp.retrievers.backfill_interactions([{"feature_id": doc_id, "interaction_type": ["purchase"], "retriever_id": ret_id, "position": 0, "user_id": "u2"}]), needs=[doc_id, ret_id])
R.call("retrievers.delete_interaction", lambda: mp.retrievers.delete_interaction(ix_id), needs=[ix_id])
R.call("search (ephemeral retriever)", lambda: mp.search(namespace_id=ns_id, queries=[{"feature_uri": URI, "query": {"input_mode": "text", "value": "puncture"}, "top_k": 3}]),
       needs=[col_id], check=lambda r: None if r.get("documents") else "no documents")

R.call("search (text shortcut)", lambda: mp.search("how do I repair a puncture", collection=col_id, limit=3), needs=[col_id],
       check=lambda r: None if r.get("documents") and r["documents"][0].get("category") == "bike" else f"top {str(r.get('documents', [])[:1])[:200]}")
R.call("documents.delete", lambda: mp.documents.delete(col_id, doc_id), needs=[doc_id])
R.call("retrievers.delete", lambda: mp.retrievers.delete(ret_id), needs=[ret_id])
R.call("collections.delete", lambda: mp.collections.delete(col_id), needs=[col_id])
R.call("buckets.delete", lambda: mp.buckets.delete(bkt_id), needs=[bkt_id])
R.call("namespaces.delete", lambda: admin.namespaces.delete(ns_id), needs=[ns_id])
R.emit()
