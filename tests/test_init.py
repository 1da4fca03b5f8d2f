"""The package's top level: every public name of its sub-packages, as MindCV's top level holds them."""
import mindcv

MINDCV_NAMES = {
    "mindcv": ["create_model", "create_dataset", "create_transforms", "create_loader", "create_loss",
               "create_optimizer", "create_scheduler", "list_models", "list_modules", "is_model", "model_entrypoint",
               "is_model_in_modules", "is_model_pretrained", "get_pretrained_cfg", "get_pretrained_cfg_value",
               "has_pretrained_cfg_key", "load_pretrained", "load_model_checkpoint", "build_model_with_cfg",
               "make_divisible", "FeatureExtractWrapper", "Xception", "xception", "get_dataset_download_root",
               "MnistDownload", "Cifar10Download", "Cifar100Download", "IMAGENET_DEFAULT_MEAN", "IMAGENET_DEFAULT_STD",
               "DEFAULT_CROP_PCT", "auto_augment_transform", "rand_augment_transform",
               "trivial_augment_wide_transform", "augment_and_mix_transform", "dynamic_lr",
               "create_trainer", "get_metrics", "require_customized_train_step", "TrainStep", "StateMonitor",
               "ValCallback", "CheckpointManager", "AllReduceSum", "set_logger", "set_seed", "auto_mixed_precision",
               "DownLoad", "get_default_download_root", "set_default_download_root"],
    "mindcv.utils": ["create_trainer", "get_metrics", "require_customized_train_step", "TrainStep", "StateMonitor",
                     "ValCallback", "CheckpointManager", "AllReduceSum", "set_logger", "set_seed",
                     "auto_mixed_precision", "AMP_WHITE_LIST", "AMP_BLACK_LIST", "DownLoad", "detect_file_type"],
    "mindcv.loss": ["create_loss", "CrossEntropySmooth", "BinaryCrossEntropySmooth", "AsymmetricLossSingleLabel",
                    "AsymmetricLossMultilabel", "JSDCrossEntropy"],
}


def test_mindcv_names_import_from_where_mindcv_code_imports_them():
    for module_name, names in MINDCV_NAMES.items():
        module = __import__(module_name, fromlist=names)
        missing = [name for name in names if not hasattr(module, name)]
        assert missing == [], f"{module_name} lacks {missing}"
    assert set(mindcv.data.__all__) | set(mindcv.models.__all__) | set(mindcv.optim.__all__) <= set(mindcv.__all__)

