// Log Analytics (Container Apps' logs, the workspace behind Application Insights) and Application Insights
// (the Function app's and the gateway's telemetry).

param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object = {}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    // telemetry only from callers with an Entra ID token (the apps' managed identities)
    DisableLocalAuth: true
  }
}

output logAnalyticsId string = logs.id
output logAnalyticsName string = logs.name
output applicationInsightsId string = insights.id
output applicationInsightsName string = insights.name
