-- Argo CD health of a TokenHub ModelRoute, ApiKey or QuotaPolicy, from what the operator writes:
-- status.observedGeneration and the Ready, Reconciling and Stalled conditions. The same rules
-- kstatus (Flux) applies: an unobserved generation or Reconciling=True is Progressing,
-- Stalled=True is Degraded, Ready=True is Healthy; a disabled key (Ready=False, neither
-- Reconciling nor Stalled) is Suspended.
local hs = { status = "Progressing", message = "Waiting for the TokenHub operator" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.message = "Waiting for the TokenHub operator to observe generation " .. tostring(generation)
  return hs
end
local by_type = {}
for _, c in ipairs(obj.status.conditions) do
  by_type[c.type] = c
end
local function stale(c)
  return generation ~= nil and c.observedGeneration ~= nil and c.observedGeneration < generation
end
local stalled, reconciling, ready = by_type["Stalled"], by_type["Reconciling"], by_type["Ready"]
if stalled ~= nil and stalled.status == "True" and not stale(stalled) then
  hs.status = "Degraded"
  hs.message = stalled.reason .. ": " .. (stalled.message or "")
elseif reconciling ~= nil and reconciling.status == "True" then
  hs.message = reconciling.reason .. ": " .. (reconciling.message or "")
elseif ready ~= nil and ready.status == "True" and not stale(ready) then
  hs.status = "Healthy"
  hs.message = ready.message or ""
elseif ready ~= nil and ready.status == "False" and not stale(ready) then
  hs.status = "Suspended"
  hs.message = ready.reason .. ": " .. (ready.message or "")
end
return hs
