/* svc.c - opening, registering and closing the services in order (see svc.h). */
#include "svc/svc.h"

#include <stdlib.h>

#include "svc/annuaire/annuaire.h"
#include "svc/dmp/dmp.h"
#include "svc/ins/ins.h"
#include "svc/mss/mss.h"
#include "svc/psc/psc.h"

typedef struct svc_set {
    ins_service *ins;
    annuaire_service *annuaire;
    psc_service *psc;
    dmp_service *dmp;
    mss_service *mss;
} svc_set;

int svc_open(socle_app *app, socle_err *err)
{
    svc_set *set = calloc(1, sizeof *set);
    if (!set) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    app->services = set;
    int rc = ins_open(app, &set->ins, err);
    if (!rc) rc = annuaire_open(app, &set->annuaire, err);
    if (!rc) rc = psc_open(app, &set->psc, err);
    if (!rc) rc = dmp_open(app, &set->dmp, err);
    if (!rc) rc = mss_open(app, &set->mss, err);
    if (rc) svc_close(app);
    return rc;
}

int svc_register(socle_app *app, http_router *router)
{
    svc_set *set = app->services;
    if (!set) return 0;
    int rc = ins_register(set->ins, router);
    if (!rc) rc = annuaire_register(set->annuaire, router);
    if (!rc) rc = psc_register(set->psc, router);
    if (!rc) rc = dmp_register(set->dmp, router);
    if (!rc) rc = mss_register(set->mss, router);
    return rc;
}

int svc_start(socle_app *app, socle_err *err)
{
    svc_set *set = app->services;
    return set ? mss_start(set->mss, err) : 0;
}

void svc_stop(socle_app *app)
{
    svc_set *set = app->services;
    if (set) mss_stop(set->mss);
}

mss_service *svc_mss(socle_app *app)
{
    svc_set *set = app->services;
    return set ? set->mss : NULL;
}

void svc_close(socle_app *app)
{
    svc_set *set = app->services;
    if (!set) return;
    mss_close(set->mss);
    dmp_close(set->dmp);
    psc_close(set->psc);
    annuaire_close(set->annuaire);
    ins_close(set->ins);
    free(set);
    app->services = NULL;
}
