// One KubeConfig for the webhook and controller: in-cluster service account, else KUBECONFIG / ~/.kube/config.
import { KubeConfig } from '@kubernetes/client-node';

export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error('no Kubernetes cluster configured (not in a pod, and no kubeconfig found)');
  return kc;
}
