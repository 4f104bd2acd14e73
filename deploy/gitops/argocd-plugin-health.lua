-- Argo CD health of a Plugin (analytics.hyperspot.io/v1alpha1), from the status the operator writes.
-- Install: argocd-cm data key "resource.customizations.health.analytics.hyperspot.io_Plugin" (README).
-- Tested against real operator statuses by tests/e2e/test_gitops_health.py.
--   Progressing  no status yet, a generation not rolled out yet, or a rollout under way
--   Degraded     a failed rollout or invalid change (the old version may still serve), or not Ready
--   Suspended    disabled on purpose (spec.enabled: false)
--   Healthy      the desired version serves and is Ready
local hs = {}
local function condition(kind)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local ready = condition("Ready")
local progressing = condition("Progressing")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report"
  return hs
end
if obj.status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Generation " .. tostring(obj.metadata.generation) .. " is not rolled out yet"
  return hs
end
if progressing ~= nil and progressing.status == "True" then
  hs.status = "Progressing"
  hs.message = progressing.message or progressing.reason
  return hs
end
if progressing ~= nil and progressing.status == "False"
    and progressing.reason ~= "Complete" and progressing.reason ~= "RolloutComplete" then
  hs.status = "Degraded"
  hs.message = progressing.reason .. ": " .. (progressing.message or "")
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or "Plugin is serving queries"
  return hs
end
if ready.status == "False" and ready.reason == "Disabled" then
  hs.status = "Suspended"
  hs.message = ready.message or "Plugin is disabled"
  return hs
end
if ready.status == "Unknown" then
  hs.status = "Progressing"
  hs.message = ready.message or ready.reason
  return hs
end
hs.status = "Degraded"
hs.message = ready.reason .. ": " .. (ready.message or "")
return hs
