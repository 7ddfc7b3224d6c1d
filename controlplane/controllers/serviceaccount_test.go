package controllers

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
)

func TestServiceAccountControllerKeepsDefaultsPerNamespace(t *testing.T) {
	ctx := context.Background()
	ca := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	client := newFakeClient(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "going", DeletionTimestamp: &metav1.Time{}},
			Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
	)
	startController(t, client, func(f informers.SharedInformerFactory) (*serviceAccountController, error) {
		return newServiceAccountController(client, f, ca, testLogger())
	})
	has := func(ns string) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, DefaultServiceAccount, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, RootCAConfigMap, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil && cm.Data[RootCAKey] == string(ca), err
	}
	eventually(t, "default namespace objects", func() (bool, error) { return has("default") })

	// A new namespace gets them; a terminating one does not.
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "new namespace objects", func() (bool, error) { return has("team-a") })
	if _, err := client.CoreV1().ServiceAccounts("going").Get(ctx, DefaultServiceAccount, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("terminating namespace got a service account: %v", err)
	}

	// Deleted ones come back, an edited CA is put back.
	if err := client.CoreV1().ServiceAccounts("team-a").Delete(ctx, DefaultServiceAccount, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	cm, _ := client.CoreV1().ConfigMaps("team-a").Get(ctx, RootCAConfigMap, metav1.GetOptions{})
	cm.Data[RootCAKey] = "tampered"
	if _, err := client.CoreV1().ConfigMaps("team-a").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "objects restored", func() (bool, error) { return has("team-a") })
}
