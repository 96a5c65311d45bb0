-- Argo CD health check for every quarry.dev kind (QuarryNamespace, Bucket, Collection, Retriever, Taxonomy).
-- Quarry's status follows kstatus (sigs.k8s.io/cli-utils): status.observedGeneration plus the conditions
-- Ready, Reconciling and Stalled. Written for Argo CD's Lua 5.1 (gopher-lua); also runs on Lua 5.4.
--   Suspended    annotation quarry.dev/paused is "true"
--   Progressing  deleting, no status yet, stale observedGeneration, Reconciling=True, or Ready missing/not True
--   Degraded     Stalled=True
--   Healthy      Ready=True and observedGeneration == generation
local hs = {}

local function condition(conditions, wanted)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == wanted then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c == nil then
    return fallback
  end
  local reason = c.reason or ""
  local message = c.message or ""
  if reason ~= "" and message ~= "" then
    return reason .. ": " .. message
  elseif message ~= "" then
    return message
  elseif reason ~= "" then
    return reason
  end
  return fallback
end

local meta = obj.metadata or {}
local annotations = meta.annotations or {}
if annotations["quarry.dev/paused"] == "true" then
  hs.status = "Suspended"
  hs.message = "Reconciliation is paused (annotation quarry.dev/paused=true)"
  return hs
end

if meta.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Deleting: waiting for the operator to clean up external resources"
  return hs
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local generation = meta.generation
local observed = status.observedGeneration
if observed == nil or (generation ~= nil and observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation) ..
    " (observed " .. tostring(observed) .. ")"
  return hs
end

local stalled = condition(status.conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

local reconciling = condition(status.conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling, "Reconciling")
  return hs
end

local ready = condition(status.conditions, "Ready")
if ready ~= nil and ready.status == "True" then
  if ready.observedGeneration ~= nil and generation ~= nil and ready.observedGeneration < generation then
    hs.status = "Progressing"
    hs.message = "Ready condition is from generation " .. tostring(ready.observedGeneration) ..
      ", waiting for generation " .. tostring(generation)
    return hs
  end
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready, "Waiting for the Ready condition")
return hs
